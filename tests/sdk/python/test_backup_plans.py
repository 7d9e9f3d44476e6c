"""Backup plans, end to end: a plan every 2 s with keep-last 3, seen through the backup API.

A server of its own runs a plan file with one plan, `every2s` (table `events`, every 2 s,
keep_last 3, into a directory of the test's temp dir). While the scheduler runs, the test
writes rows through the official SDK and watches, through the signed JSON backup API
(sdk_helpers.backup_api): scheduled runs that succeed with rows, bytes and snapshot ids;
retention keeping exactly the newest 3 snapshots, each later run naming what it forgot; a
destination that breaks (a regular file where the repository was: we run as root, so
permissions would not stop writes) giving failed runs that carry the error and are
retried, while the plan's status shows its last run failed; runs succeeding again once the
repository is back; restores of the newest and the oldest kept snapshot that hold the
table's rows; and the plan's last success on /metrics.

`events` has a stream, so every backup after the first is an incremental layer over the
one before, and retention must rewrite a kept layer whose base it forgets; the Python SDK
has no stream option, so the table is created with a CreateTable request built from the
SDK's protobuf classes and signed by the SDK's signer.
"""

import os
import re
import time

import pytest

import sdk_helpers
from tablestore import (
    INF_MAX,
    INF_MIN,
    BatchWriteRowRequest,
    Condition,
    PutRowItem,
    Row,
    RowExistenceExpectation,
    TableInBatchWriteRowItem,
)

from sdk_helpers import (
    ServerStartError,
    TableSafeServer,
    backup_api,
    create_table_with_stream,
    now_ms,
    raw_request,
    sdk_request,
)

PLAN = "every2s"
TABLE = "events"
KEEP = 3
WAIT = 60.0  # the longest any single wait may take
IGNORE = Condition(RowExistenceExpectation.IGNORE)
SEED_ROWS = 1000


@pytest.fixture
def plan_server(tmp_path):
    repo = tmp_path / "repo"
    plans = tmp_path / "plans.toml"
    plans.write_text(
        "[[plans]]\n"
        'name = "%s"\n'
        'tables = ["%s"]\n'
        'every = "2s"\n'
        "keep_last = %d\n"
        'destination = "%s"\n' % (PLAN, TABLE, KEEP, repo))
    srv = TableSafeServer(tmp_path / "data", tmp_path / "server.log",
                          extra_args=["--plans", str(plans)])
    try:
        srv.start()
    except ServerStartError as e:
        pytest.fail(str(e), pytrace=False)
    srv.repo = str(repo)
    srv.scratch = str(tmp_path)
    yield srv
    srv.stop()


# ---------------------------------------------------------------------------------------------
# Helpers


def wait_for(what, probe, timeout=WAIT, interval=0.25, between=None):
    return sdk_helpers.wait_for(what, probe, timeout, interval, between)


def backup_jobs(client):
    """The plan's backup jobs, oldest first."""
    jobs = backup_api(client, "ListJobs", {"plan": PLAN, "kind": "backup", "limit": 1000})["jobs"]
    return list(reversed(jobs))


def plan_status(client):
    return backup_api(client, "DescribeBackupPlan", {"name": PLAN})


def snapshots(client):
    """The plan's snapshots, oldest first."""
    return backup_api(client, "ListSnapshots", {"plan": PLAN, "only_plan": PLAN})["snapshots"]


def succeeded_with_snapshot(jobs):
    return [j for j in jobs if j["state"] == "succeeded" and j.get("snapshot")]


def settled(client, what):
    """Waits for a quiet moment (no run under way, none ending between the reads) in which
    the plan's snapshots are exactly those of its newest KEEP succeeded runs.
    -> (jobs oldest first, snapshots oldest first), both read in that moment."""
    def probe():
        before = backup_jobs(client)
        listed = snapshots(client)
        after = backup_jobs(client)
        made = [j["snapshot"] for j in succeeded_with_snapshot(after)]
        quiet = before == after and all(j["state"] != "running" for j in after)
        if quiet and [s["id"] for s in listed] == made[-KEEP:]:
            return True, (after, listed)
        return False, {"listed": [s["id"] for s in listed],
                       "newest runs' snapshots": made[-KEEP:], "quiet": quiet}
    return wait_for(what, probe)


def in_quiet_gap(client, margin_ms=600):
    """Waits until no run is under way and the next one is at least `margin_ms` away, so
    that the repository can be swapped out between runs, never under one."""
    def probe():
        status = plan_status(client)
        nxt = status.get("next_run_ms")
        ok = not status["running"] and nxt is not None and nxt - now_ms() >= margin_ms
        return ok, status
    wait_for("a gap between two runs", probe, interval=0.05)


def wait_job(client, job_id, timeout=WAIT):
    def probe():
        job = backup_api(client, "DescribeJob", {"job_id": job_id})["job"]
        return job["state"] != "running", job
    return wait_for("job %s to end" % job_id, probe, timeout=timeout)


def scan(client, table):
    """Every row of `table` as (primary key, attribute columns with timestamps), in key order."""
    out = []
    start = [("id", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(table, "FORWARD", start, [("id", INF_MAX)],
                                             max_version=1)
        out.extend((r.primary_key, sorted(r.attribute_columns)) for r in rows)
    return out


class Writer:
    """Writes through the SDK: SEED_ROWS rows, then in each step two new rows, a partial
    update of one and, every third step, a delete; so that every incremental layer holds
    puts, updates and deletes, and stays well under the fifth of the table past which a
    backup makes a full copy instead of a layer."""

    def __init__(self, client):
        self.client = client
        self.next_id = 0
        self.live = []
        self.steps = 0

    def put(self, count):
        new = list(range(self.next_id, self.next_id + count))
        self.next_id += count
        for off in range(0, count, 200):
            req = BatchWriteRowRequest()
            req.add(TableInBatchWriteRowItem(TABLE, [
                PutRowItem(Row([("id", i)], [("payload", "row-%d" % i), ("n", i)]), IGNORE)
                for i in new[off:off + 200]]))
            res = self.client.batch_write_row(req)
            assert res.is_all_succeed()
        self.live.extend(new)

    def step(self):
        self.steps += 1
        self.put(2)
        victim = self.live[(self.steps * 7) % len(self.live)]
        self.client.update_row(TABLE, Row([("id", victim)], {"put": [("touched", self.steps)]}),
                               IGNORE)
        if self.steps % 3 == 0:
            gone = self.live.pop(len(self.live) // 2)
            self.client.delete_row(TABLE, Row([("id", gone)]), IGNORE)


def metric_samples(port, name):
    """{labels: value} of metric `name` on the unauthenticated GET /metrics."""
    resp = raw_request(port, "/metrics", method="GET")
    assert resp.status == 200, resp.body[:200]
    out = {}
    for line in resp.body.decode().splitlines():
        m = re.match(r"^%s\{([^}]*)\} (\S+)$" % re.escape(name), line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
            out[labels] = float(m.group(2))
    return out


# ---------------------------------------------------------------------------------------------
# The test


def test_plan_runs_prunes_fails_recovers_and_restores(plan_server):
    srv = plan_server
    try:
        _run(srv)
    except BaseException:
        print("---- server log (tail) ----\n" + srv.log_tail(80))
        raise
    rc = srv.stop()
    assert rc == 0, "tablesafe exited with %s on SIGTERM while its scheduler ran" % rc


def _run(srv):
    client = srv.client()
    started_ms = now_ms()

    # The plan file is what the server runs: this one plan, no default plan beside it.
    plans = backup_api(client, "ListBackupPlans")["plans"]
    assert [p["plan"]["name"] for p in plans] == [PLAN], plans
    plan = plans[0]["plan"]
    assert (plan["every"], plan["keep_last"], plan["tables"], plan["enabled"]) == \
        ("2s", KEEP, [TABLE], True), plan
    assert plan["destination"] == srv.repo

    create_table_with_stream(client, TABLE)
    table_ready_ms = now_ms()
    writer = Writer(client)
    writer.put(SEED_ROWS)

    # --- Scheduled runs, and retention down to the newest 3 --------------------------------
    def five_runs():
        done = succeeded_with_snapshot(backup_jobs(client))
        return len(done) >= 5, [(j["trigger"], j["state"], j.get("snapshot")) for j in done]
    wait_for("5 successful scheduled runs", five_runs, between=writer.step)
    jobs, listed = settled(client, "retention to keep the newest %d snapshots" % KEEP)
    assert all(j["state"] == "succeeded" for j in jobs if j["state"] != "running"), jobs
    runs = succeeded_with_snapshot(jobs)
    for job in runs:
        assert job["kind"] == "backup" and job["plan"] == PLAN, job
        assert job["trigger"] == "schedule" and job["attempt"] == 1, job
        assert job["tables"] == [TABLE], job
        assert job["destination"] == srv.repo, job
        assert job["rows"] > 0 and job["bytes"] > 0, job
        assert job["verified"] is True and not job.get("error"), job
        assert job["started_ms"] <= job["finished_ms"], job
    # Runs without a snapshot can only be the ones before the table existed.
    for job in jobs:
        if job["state"] == "succeeded" and not job.get("snapshot"):
            assert job["started_ms"] <= table_ready_ms, job
    # Every 2 s on the schedule: no burst, no long pause.
    gaps = [b["started_ms"] - a["started_ms"] for a, b in zip(jobs, jobs[1:])]
    assert all(1500 <= g <= 10_000 for g in gaps), gaps
    assert len({j["snapshot"] for j in runs}) == len(runs)

    # Incremental: after a full copy of the seeded table, runs add layers of the few rows
    # written since, far smaller than the copy.
    full = max(j["bytes"] for j in runs)
    layers = [j for j in runs if j["bytes"] * 3 < full]
    assert len(layers) >= 3, [(j["rows"], j["bytes"]) for j in runs]

    # keep_last 3: each run from the 4th on forgot exactly the snapshot 3 runs older.
    made = [j["snapshot"] for j in runs]
    for i, job in enumerate(runs):
        expected = [made[i - KEEP]] if i >= KEEP else []
        assert job["forgotten"] == expected, (i, job, made)

    assert [s["id"] for s in listed] == made[-KEEP:]
    by_snapshot = {j["snapshot"]: j for j in runs}
    for snap in listed:
        job = by_snapshot[snap["id"]]
        assert snap["plan"] == PLAN, snap
        assert [t["name"] for t in snap["tables"]] == [TABLE], snap
        table = snap["tables"][0]
        assert table["rows"] == job["rows"] > 0, (snap, job)
        assert table["stream_position"] is not None, snap  # a stream: incremental layers
        assert table["digest"], snap
        assert job["started_ms"] - 1000 <= snap["time_ms"] <= job["finished_ms"], (snap, job)
    # The oldest kept snapshot was a layer over one retention forgot: it was rewritten as a
    # full copy; the two newer ones are still layers over it.
    sizes = [s["tables"][0]["data_bytes"] for s in listed]
    assert sizes[1] * 3 < sizes[0] and sizes[2] * 3 < sizes[0], listed

    status = plan_status(client)
    assert status["last_run"]["state"] in ("succeeded", "running"), status
    assert status["last_success_ms"] >= runs[-1]["finished_ms"], (status, runs[-1])
    if not status["running"]:
        assert -1000 <= status["next_run_ms"] - now_ms() <= 2500, status

    # --- The destination fails: a regular file where the repository was --------------------
    aside = os.path.join(srv.scratch, "repo.aside")
    blocker = os.path.join(srv.scratch, "blocker")
    with open(blocker, "w") as f:
        f.write("not a backup repository\n")
    in_quiet_gap(client)
    last_success_before = plan_status(client)["last_success_ms"]
    os.rename(srv.repo, aside)
    os.rename(blocker, srv.repo)
    broke_ms = now_ms()

    def failures():
        failed = [j for j in backup_jobs(client)
                  if j["started_ms"] >= broke_ms and j["state"] == "failed"]
        retried = [j for j in failed if j["trigger"] == "retry" and j["attempt"] > 1]
        return len(failed) >= 3 and retried, failed
    wait_for("failed runs and their retries", failures, between=writer.step)

    jobs = backup_jobs(client)
    after_break = [j for j in jobs if j["started_ms"] >= broke_ms and j["state"] != "running"]
    assert after_break and all(j["state"] == "failed" for j in after_break), after_break
    for job in after_break:
        assert job["error"] and job["error"].strip(), job
        assert job["finished_ms"] is not None and not job.get("forgotten"), job
        assert job["destination"] == srv.repo, job
    first = after_break[0]
    assert (first["trigger"], first["attempt"]) == ("schedule", 1), after_break
    # The first retry comes about 1 s after the failure, and before the next regular time.
    second = after_break[1]
    assert (second["trigger"], second["attempt"]) == ("retry", 2), after_break
    assert 800 <= second["started_ms"] - first["finished_ms"] <= 2300, after_break
    # ... and retries never pass a regular time: each time on the schedule (every 2 s from
    # the first failure) got a run, a retry or a scheduled one.
    for a, b in zip(after_break, after_break[1:]):
        skipped = [t for t in range(first["started_ms"], b["started_ms"] - 300, 2000)
                   if t > a["finished_ms"] + 300]
        assert not skipped, ("regular times passed with no run", skipped, after_break)
    def shows_failure():
        status = plan_status(client)
        return status["last_run"]["state"] == "failed", status
    status = wait_for("the plan's status to show its last run failed", shows_failure)
    assert status["last_run"]["error"] and status["last_run"]["started_ms"] >= broke_ms, status
    assert status["last_success_ms"] == last_success_before, status

    # --- It comes back: runs succeed again, retention back to 3 ------------------------------
    in_quiet_gap(client)
    os.rename(srv.repo, blocker)
    os.rename(aside, srv.repo)
    fixed_ms = now_ms()

    def recovered():
        back = [j for j in succeeded_with_snapshot(backup_jobs(client))
                if j["started_ms"] >= fixed_ms]
        return bool(back), back
    back = wait_for("a successful run after the repository came back", recovered,
                    between=writer.step)[0]
    assert back["trigger"] in ("schedule", "retry"), back
    assert back["rows"] > 0 and back["bytes"] > 0 and back["verified"] is True, back
    jobs, listed = settled(client, "retention to keep the newest %d snapshots again" % KEEP)
    status = plan_status(client)
    assert status["last_success_ms"] >= back["finished_ms"] > fixed_ms, (status, back)
    runs = succeeded_with_snapshot(jobs)
    made = [j["snapshot"] for j in runs]
    forgotten = [s for j in runs for s in j["forgotten"]]
    assert sorted(forgotten) == sorted(made[:-KEEP]), (forgotten, made)
    assert not [j for j in jobs if j["state"] == "failed" and j.get("snapshot")], jobs

    # --- Restore the newest snapshot: the table as it was ------------------------------------
    quiet_ms = now_ms()
    expected = scan(client, TABLE)

    def backed_up_quiet():
        done = [j for j in succeeded_with_snapshot(backup_jobs(client))
                if j["started_ms"] > quiet_ms]
        return bool(done), done
    newest_run = wait_for("a run after the last write", backed_up_quiet)[0]
    # Stop the schedule, so that retention does not remove what is being restored.
    paused = backup_api(client, "UpdateBackupPlan", {"plan": dict(plan, enabled=False)})
    assert paused["plan"]["enabled"] is False and paused.get("next_run_ms") is None, paused
    paused_ms = now_ms()
    _, listed = settled(client, "the last run to end and retention to settle")
    newest = listed[-1]
    assert newest_run["snapshot"] in [s["id"] for s in listed]
    assert [pk[0][1] for pk, _ in expected] == sorted(writer.live)
    assert newest["tables"][0]["rows"] == len(expected), (newest, len(expected))

    job = backup_api(client, "StartRestore",
                     {"plan": PLAN, "table": TABLE, "snapshot": newest["id"]})["job"]
    assert job["kind"] == "restore" and job["target_table"].startswith(TABLE + "_restored_"), job
    job = wait_job(client, job["id"])
    assert job["state"] == "succeeded", job
    assert job["snapshot"] == newest["id"] and job["rows"] == len(expected) > 0, job
    assert job["digest"] == newest["tables"][0]["digest"], (job, newest)
    assert scan(client, job["target_table"]) == expected

    check = backup_api(client, "VerifyRestore", {"job_id": job["id"]})["job"]
    check = wait_job(client, check["id"])
    assert check["kind"] == "verify-restore" and check["state"] == "succeeded", check
    assert check["verified"] is True and check["rows"] == len(expected), check

    # Change the restored table behind the restore's back: a row gone, one added, one
    # changed. Its verify-restore fails and names each (a snapshot's restore can).
    restored = job["target_table"]
    gone, changed = expected[0][0][0][1], expected[1][0][0][1]
    added = max(writer.live) + 1000
    client.delete_row(restored, Row([("id", gone)]), IGNORE)
    client.put_row(restored, Row([("id", added)], [("v", "extra")]), IGNORE)
    client.update_row(restored, Row([("id", changed)], {"put": [("v", "changed")]}), IGNORE)
    differs = backup_api(client, "VerifyRestore", {"job_id": job["id"]})["job"]
    differs = wait_job(client, differs["id"])
    assert differs["state"] == "failed" and differs["verified"] is False, differs
    lines = differs["differences"]
    assert "1 rows missing: id=%d" % gone in lines, lines
    assert "1 rows extra: id=%d" % added in lines, lines
    assert "1 rows different: id=%d" % changed in lines, lines
    assert any(line.startswith("key range") for line in lines), lines

    # The oldest kept snapshot was an incremental layer whose base retention forgot (and
    # pruned): it must still restore whole, and read back to its digest.
    oldest = listed[0]
    verify = backup_api(client, "VerifyBackup", {"plan": PLAN, "snapshot": oldest["id"]})["job"]
    verify = wait_job(client, verify["id"])
    assert verify["state"] == "succeeded" and verify["verified"] is True, verify
    job = backup_api(client, "StartRestore", {"plan": PLAN, "table": TABLE,
                                              "snapshot": oldest["id"],
                                              "target": "events_oldest"})["job"]
    job = wait_job(client, job["id"])
    assert job["state"] == "succeeded", job
    assert job["rows"] == oldest["tables"][0]["rows"] > 0, (job, oldest)
    assert len(scan(client, "events_oldest")) == oldest["tables"][0]["rows"]

    # Paused: no scheduled run started since.
    late = [j for j in backup_jobs(client) if j["started_ms"] > paused_ms]
    assert not late, late

    # --- /metrics ------------------------------------------------------------------------------
    last_success_ms = plan_status(client)["last_success_ms"]
    gauge = metric_samples(srv.port, "tablesafe_backup_last_success_timestamp_seconds")
    assert frozenset([("plan", PLAN)]) in gauge, gauge
    assert abs(gauge[frozenset([("plan", PLAN)])] * 1000 - last_success_ms) < 2, \
        (gauge, last_success_ms)
    assert started_ms / 1000 < gauge[frozenset([("plan", PLAN)])] <= now_ms() / 1000
    jobs_total = metric_samples(srv.port, "tablesafe_backup_jobs_total")
    failed_count = len([j for j in backup_jobs(client) if j["state"] == "failed"])
    assert jobs_total.get(frozenset([("kind", "backup"), ("state", "failed")])) == failed_count, \
        jobs_total
    done = len([j for j in backup_jobs(client) if j["state"] == "succeeded"])
    assert jobs_total.get(frozenset([("kind", "backup"), ("state", "succeeded")])) == done, \
        jobs_total
