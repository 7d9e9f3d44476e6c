"""The package against a real `tablesafe serve`: the seed's flow with a recovery
point between two known writes, a recovery to a snapshot, listing, and the error
paths (wrong secret, unknown table, unknown destination, a point outside the
window, roles that may not restore or change plans).

Every table is created and written through the official SDK (the client's
OTSClient methods) and read back through it to check what a recovery wrote.
"""

import time

import pytest
from tablestore import (INF_MAX, INF_MIN, CapacityUnit, Condition, ReservedThroughput, Row,
                        RowExistenceExpectation, TableMeta, TableOptions)

from tablesafe import JOB_FAILED, BackupError, TableStoreClient
from tablesafe.policy import format_time_ms

from conftest import KEYS, sdk_helpers

IGNORE = Condition(RowExistenceExpectation.IGNORE)
DESTINATION = "pyclient_bucket"
DEADLINE = 60.0


def policy(**extra):
    out = {"backup_frequency": "hourly", "backup_retention_period": "72 hours",
           "backup_destination": DESTINATION}
    out.update(extra)
    return out


def now_ms():
    return int(time.time() * 1000)


def new_table(client, prefix, rows):
    """A new table with INTEGER key `id`, holding `rows` ({id: name})."""
    name = sdk_helpers().unique_name(prefix)
    client.create_table(TableMeta(name, [("id", "INTEGER")]), TableOptions(),
                        ReservedThroughput(CapacityUnit(0, 0)))
    for row_id, value in rows.items():
        client.put_row(name, Row([("id", row_id)], [("name", value)]), IGNORE)
    return name


def scan(client, table):
    """Every row as (id, [(column, value, timestamp)]), in key order, through the SDK."""
    out = []
    start = [("id", INF_MIN)]
    while start is not None:
        _, start, rows, _ = client.get_range(table, "FORWARD", start, [("id", INF_MAX)],
                                             max_version=1)
        out.extend((r.primary_key[0][1], sorted(tuple(c) for c in r.attribute_columns))
                   for r in rows)
    return out


def after(ms):
    """Returns once the clock has passed `ms` (an event awaited, with a deadline)."""
    deadline = time.monotonic() + 5
    while now_ms() <= ms:
        assert time.monotonic() < deadline, "the clock did not advance"


def expect_failure(response, status, code, *fragments):
    assert response.status_code == status and response.error_code == code, response
    for fragment in fragments:
        assert fragment in (response.error_message or ""), response
    with pytest.raises(BackupError):
        response.raise_for_status()


# ---------------------------------------------------------------- the flow


@pytest.fixture(scope="module")
def history(connect):
    """A table backed up under the seed's policy, then changed twice around an
    instant `point_ms`: `before` is the table at that instant, `live` after."""
    client = connect()
    table = new_table(client, "pyseed", {i: "user-%d" % i for i in range(1, 6)})
    backup = client.backup(table, policy(), wait=True)
    assert backup.status_code == 200, backup
    at_backup = scan(client, table)
    # Writes after the backup, up to the point: a put, a delete, an update. The
    # point is the millisecond the update is stamped with: a recovery to it holds
    # every change of that millisecond, so the update too.
    client.put_row(table, Row([("id", 6)], [("name", "user-6")]), IGNORE)
    client.delete_row(table, Row([("id", 3)]), IGNORE)
    client.update_row(table, Row([("id", 2)], {"put": [("name", "renamed")]}), IGNORE)
    before = scan(client, table)
    point_ms = dict(before)[2][0][2]
    after(point_ms + 1)
    # ... and after it.
    client.put_row(table, Row([("id", 7)], [("name", "user-7")]), IGNORE)
    client.delete_row(table, Row([("id", 1)]), IGNORE)
    client.update_row(table, Row([("id", 4)], {"put": [("name", "changed-later")]}), IGNORE)
    live = scan(client, table)
    assert before != live
    return {"client": client, "table": table, "backup": backup.job, "at_backup": at_backup,
            "point_ms": point_ms,
            "point": format_time_ms(point_ms), "before": before, "live": live}


def test_backup_wrote_a_snapshot_of_the_table_and_verify_backup_passes(history):
    client, table, backup = history["client"], history["table"], history["backup"]
    assert backup["kind"] == "backup" and backup["state"] == "succeeded", backup
    assert backup["plan"] == table + "_hourly" and backup["snapshot"], backup
    assert backup["tables"] == [table] and backup["rows"] == 5, backup

    plan = client.describe_backup_plan(table + "_hourly").raise_for_status().data["plan"]
    assert (plan["every"], plan["keep_within"], plan["destination"], plan["tables"],
            plan["archive"]) == ("1h", "72h", DESTINATION, [table], True), plan

    verified = client.verify_backup(table, policy())
    assert verified.status_code == 200, verified
    job = verified.job
    assert (job["kind"], job["state"], job["verified"]) == ("verify-backup", "succeeded", True), job
    assert job["snapshot"].startswith(backup["snapshot"][:8]), (job, backup)

    listed = client.list_backups(table)
    assert listed.ok, listed
    assert [s["id"] for s in listed.record] == [backup["snapshot"]], listed.record
    assert listed.record[0]["tables"][0]["rows"] == 5


def test_recover_to_an_instant_between_two_writes_holds_exactly_its_rows(history):
    client, table = history["client"], history["table"]
    response = client.recover(table, history["point"], wait=True)
    assert response.status_code == 200, response
    job = response.job
    assert (job["kind"], job["state"], job["to_time_ms"]) == \
        ("restore", "succeeded", history["point_ms"]), job
    target = job["target_table"]
    assert target.startswith(table + "_restored_") and target != table, job
    history["restore"] = job

    # Through the official SDK: the rows of that instant, not the live ones.
    assert scan(client, target) == history["before"]
    assert scan(client, table) == history["live"]

    described = client.describe_job(job["id"])
    assert described.ok and described.job["target_table"] == target, described

    points = client.list_recovery_points(table, DESTINATION)
    assert points.ok, points
    assert [s["snapshot"] for s in points.record["snapshots"]] == [history["backup"]["snapshot"]]
    assert any(s["from_ms"] <= history["point_ms"] <= s["to_ms"] for s in points.record["spans"]), \
        points.record


def test_verify_recovery_of_the_instant_passes(history):
    client, table = history["client"], history["table"]
    if "restore" not in history:
        client.recover(table, history["point"], wait=True).raise_for_status()
    response = client.verify_recovery(table, history["point"])
    assert response.job is not None and response.job["kind"] == "verify-restore", response
    assert response.status_code == 200, response
    assert response.job["verified"] is True


def test_verify_recovery_checks_a_real_restore_and_fresh_clients_find_it(connect, history):
    """The verification runs and reports what it found, from another client too (the job
    history), whatever the outcome; the outcome itself is the test above."""
    table = history["table"]
    fresh = connect()
    response = fresh.verify_recovery(table, history["point"])
    assert response.job is not None, response
    job = response.job
    assert job["kind"] == "verify-restore" and job["state"] in ("succeeded", "failed"), job
    assert job["target_table"].startswith(table + "_restored_"), job
    assert job["restore_job"], job


def test_recover_to_the_snapshot_into_a_named_table_and_verify(history):
    client, table = history["client"], history["table"]
    snapshot = history["backup"]["snapshot"]
    target = table + "_copy"
    response = client.recover(table, snapshot, target_table=target, wait=True)
    assert response.status_code == 200, response
    assert response.job["target_table"] == target and response.job["snapshot"] == snapshot
    assert scan(client, target) == history["at_backup"]
    assert [(i, c[0][1]) for i, c in scan(client, target)] == \
        [(i, "user-%d" % i) for i in range(1, 6)]

    verified = client.verify_recovery(table, snapshot)
    assert verified.status_code == 200, verified
    assert verified.job["verified"] is True and verified.job["restore_job"] == response.job["id"]

    # Into a table with rows: refused without overwrite (the job fails); with it, rows
    # of the snapshot's keys are replaced and other rows stay (`plan restore --help`).
    again = client.recover(table, snapshot, target_table=target, wait=True)
    expect_failure(again, 500, JOB_FAILED, target)
    client.delete_row(target, Row([("id", 5)]), IGNORE)
    client.update_row(target, Row([("id", 2)], {"put": [("name", "changed")]}), IGNORE)
    client.put_row(target, Row([("id", 99)], [("name", "extra")]), IGNORE)
    extra = [r for r in scan(client, target) if r[0] == 99]
    forced = client.recover(table, snapshot, target_table=target, overwrite=True, wait=True)
    assert forced.status_code == 200, forced
    assert scan(client, target) == history["at_backup"] + extra


def test_wait_false_returns_the_running_job_and_wait_for_job_ends_it(history):
    client, table = history["client"], history["table"]
    started = client.backup(table, policy())
    assert started.status_code == 200 and started.job["kind"] == "backup", started
    ended = client.wait_for_job(started.job["id"], timeout=DEADLINE)
    assert ended.ok and ended.job["state"] == "succeeded" and ended.job["snapshot"], ended
    assert ended.job["rows"] == len(history["live"])


# ---------------------------------------------------------------- error paths


def test_a_wrong_secret_is_403_auth_failed(connect, history):
    wrong = connect(access_key_secret="not-the-secret")
    for response in (wrong.backup(history["table"], policy()),
                     wrong.describe_job(history["backup"]["id"]),
                     wrong.list_recovery_points(history["table"], DESTINATION),
                     wrong.recover(history["table"], "latest", destination=DESTINATION)):
        expect_failure(response, 403, "OTSAuthFailed")
    unknown = connect(access_key_id="nobody")
    expect_failure(unknown.describe_job(history["backup"]["id"]), 403, "OTSAuthFailed")


def test_an_unknown_table_is_404(connect, history):
    client = history["client"]
    expect_failure(client.backup("no_such_table", policy()), 404, "OTSObjectNotExist")
    expect_failure(client.verify_backup("no_such_table", policy()), 404, "OTSObjectNotExist")
    expect_failure(client.list_recovery_points("no_such_table", DESTINATION), 404,
                   "OTSObjectNotExist", "no_such_table")
    restore = client.recover("no_such_table", "latest", destination=DESTINATION, wait=True)
    expect_failure(restore, 500, JOB_FAILED, "no_such_table")
    expect_failure(client.describe_job("0" * 32), 404, "OTSObjectNotExist")


def test_an_unknown_destination_holds_no_recovery_point(history):
    client, table = history["client"], history["table"]
    expect_failure(client.list_recovery_points(table, "no_such_bucket"), 404, "OTSObjectNotExist")
    restore = client.recover(table, "latest", destination="no_such_bucket", wait=True)
    expect_failure(restore, 500, JOB_FAILED, "no repository at")
    # A policy naming a plan that does not exist, for a verification.
    expect_failure(client.verify_backup(table, policy(name="no_such_plan")), 404,
                   "OTSObjectNotExist")


def test_an_invalid_policy_is_400_from_the_server(history):
    client, table = history["client"], history["table"]
    response = client.backup(table, policy(backup_frequency="fortnightly", name="bad_policy"))
    expect_failure(response, 400, "OTSParameterInvalid")


@pytest.mark.parametrize("when", ["future", "before the first backup"])
def test_a_recovery_point_outside_the_window_fails_the_restore(history, when):
    client, table = history["client"], history["table"]
    points = client.list_recovery_points(table, DESTINATION).raise_for_status().record
    if when == "future":
        point = format_time_ms(max(s["to_ms"] for s in points["spans"]) + 3_600_000)
    else:
        point = "2022-01-01T00:00:00Z"
        assert min(s["time_ms"] for s in points["snapshots"]) > 1640995200000
    response = client.recover(table, point, wait=True)
    expect_failure(response, 500, JOB_FAILED)
    assert response.job["kind"] == "restore" and response.job["state"] == "failed", response
    assert "snapshot" in response.error_message or "archive" in response.error_message, response


@pytest.mark.parametrize("role", ["read-write", "read-only"])
def test_roles_that_may_not_restore_get_403(connect, history, role):
    client = connect(role)
    response = client.recover(history["table"], history["backup"]["snapshot"],
                              destination=DESTINATION)
    expect_failure(response, 403, "OTSAuthFailed", role)
    response = client.recover(history["table"], "latest", backup_policy=policy())
    expect_failure(response, 403, "OTSAuthFailed", role, "StartRestore")
    # ... and they may still list.
    assert client.list_recovery_points(history["table"], DESTINATION).ok


def test_a_backup_operator_runs_and_restores_plans_but_not_overwrite_or_new_policies(
        connect, history):
    ops = connect("backup-operator")
    table = history["table"]
    # The plan an admin made from the policy: run, checked, restored.
    assert ops.backup(table, policy(), wait=True).status_code == 200
    assert ops.verify_backup(table, policy()).status_code == 200
    restored = ops.recover(table, "latest", backup_policy=policy(), wait=True)
    assert restored.status_code == 200, restored
    assert [i for i, _ in scan(ops, restored.job["target_table"])] == \
        [i for i, _ in history["live"]]
    # A restore over a table, or a policy of its own, needs an admin key.
    expect_failure(ops.recover(table, "latest", backup_policy=policy(),
                               target_table=restored.job["target_table"], overwrite=True),
                   403, "OTSAuthFailed", "overwrite")
    expect_failure(ops.backup(table, policy(backup_retention_period="1 hour")), 403,
                   "OTSAuthFailed")
    # A destination no plan names is refused to it.
    expect_failure(ops.list_recovery_points(table, "no_such_bucket"), 403, "OTSAuthFailed")


def test_v4_signed_backup_calls_verify(server, history):
    key_id, secret = KEYS["admin"]
    from tablestore.retry import NoRetryPolicy
    client = TableStoreClient(server.endpoint, key_id, secret, server.instance, region="local",
                              retry_policy=NoRetryPolicy())
    described = client.describe_job(history["backup"]["id"])
    assert described.ok and described.job["id"] == history["backup"]["id"], described
    expect_failure(client.describe_job("0" * 32), 404, "OTSObjectNotExist")
    assert history["table"] in client.list_table()
