"""Backup and recovery info against a real `tablesafe serve`: descriptions, tags and
the protected flag of snapshots (UpdateSnapshotInfo), tags as a filter of
list_backups, a protected snapshot kept by retention (the plan's `keep_last 1`
and `tablesafe forget --keep-last 1`) until it is unprotected, notes and
outcomes of recoveries (UpdateJobNote), and the roles that may not set them.
"""

import os
import subprocess

import pytest
from tablestore import (CapacityUnit, Condition, ReservedThroughput, Row,
                        RowExistenceExpectation, TableMeta, TableOptions)

from conftest import sdk_helpers

IGNORE = Condition(RowExistenceExpectation.IGNORE)


def policy(destination, **extra):
    out = {"backup_frequency": "hourly", "backup_retention_period": "72 hours",
           "backup_destination": destination}
    out.update(extra)
    return out


def new_table(client, prefix, count=3):
    name = sdk_helpers().unique_name(prefix)
    client.create_table(TableMeta(name, [("id", "INTEGER")]), TableOptions(),
                        ReservedThroughput(CapacityUnit(0, 0)))
    for row_id in range(1, count + 1):
        client.put_row(name, Row([("id", row_id)], [("name", "user-%d" % row_id)]), IGNORE)
    return name


def backed_up(client, table, backup_policy):
    """Runs one backup of the policy to its end; its job."""
    response = client.backup(table, backup_policy, wait=True)
    assert response.status_code == 200, response
    return response.job


def ids(response):
    assert response.ok, response
    return [s["id"] for s in response.record]


def expect_failure(response, status, code, *fragments):
    assert (response.status_code, response.error_code) == (status, code), response
    for fragment in fragments:
        assert fragment in (response.error_message or ""), response


# ---------------------------------------------------------------- backup info


@pytest.fixture(scope="module")
def tagged(connect):
    """A table with two backups under one policy, the first verified."""
    client = connect()
    table = new_table(client, "pyinfo")
    chosen = policy("pyinfo_bucket")
    first = backed_up(client, table, chosen)
    assert client.verify_backup(table, chosen).status_code == 200
    return {"client": client, "table": table, "policy": chosen, "first": first}


def test_update_backup_info_returns_the_full_record_with_the_info(tagged):
    client, table, chosen = tagged["client"], tagged["table"], tagged["policy"]
    first = tagged["first"]
    response = client.update_backup_info(table, chosen, description="before the migration",
                                         tags=["q4", "gold"])
    assert response.status_code == 200, response
    record = response.record
    assert record["id"] == first["snapshot"] and record["table"] == table, record
    assert record["rows"] == 3 and record["bytes"] > 0 and record["time_ms"] > 0, record
    assert record["verified"] is True, record
    assert (record["tags"], record["description"], record["protected"]) == \
        (["gold", "q4"], "before the migration", False), record
    assert record["plan"] == table + "_hourly"

    # add/remove change the tags; what is not given stays.
    changed = client.update_backup_info(table, chosen, add_tags=["keep"], remove_tags=["q4"])
    assert changed.ok, changed
    assert (changed.record["tags"], changed.record["description"]) == \
        (["gold", "keep"], "before the migration"), changed.record

    # The info is part of the snapshot as ListSnapshots shows it, to any client.
    listed = client.list_backups(table, chosen).raise_for_status().record
    assert [(s["id"], s["tags"], s["description"], s["protected"], s["verified"])
            for s in listed] == \
        [(first["snapshot"], ["gold", "keep"], "before the migration", False, True)]


def test_tags_filter_list_backups_and_the_newest_backup_is_the_default(tagged):
    client, table, chosen = tagged["client"], tagged["table"], tagged["policy"]
    first = tagged["first"]["snapshot"]
    client.update_backup_info(table, chosen, snapshot=first, tags=["gold", "keep"]) \
        .raise_for_status()
    second = backed_up(client, table, chosen)["snapshot"]
    assert second != first

    assert ids(client.list_backups(table, chosen)) == [first, second]
    assert ids(client.list_backups(table, chosen, tags=["gold"])) == [first]
    assert ids(client.list_backups(table, chosen, tags=["gold", "keep"])) == [first]
    assert ids(client.list_backups(table, chosen, tags=["gold", "nope"])) == []
    assert ids(client.list_backups(table, destination="pyinfo_bucket", tags=["keep"])) == [first]

    # Without a snapshot the newest backup is the one updated, and it has no info yet;
    # it is verified all the same: by the backup's own check (docs/API.md, ListSnapshots).
    newest = client.update_backup_info(table, chosen)
    assert newest.ok and newest.record["id"] == second, newest.record
    assert (newest.record["tags"], newest.record["description"], newest.record["verified"]) == \
        ([], None, True), newest.record
    tagged_second = client.update_backup_info(table, chosen, tags="silver")
    assert tagged_second.record["id"] == second and tagged_second.record["tags"] == ["silver"]
    assert ids(client.list_backups(table, chosen, tags=["silver"])) == [second]

    # A snapshot by unique prefix; an empty tag list clears them.
    cleared = client.update_backup_info(table, chosen, snapshot=first[:8], tags=[])
    assert cleared.ok and cleared.record["id"] == first and cleared.record["tags"] == [], cleared
    assert ids(client.list_backups(table, chosen, tags=["gold"])) == []

    # A tag that is not letters, digits and `_ - . : / =` is 400; an unknown snapshot 404.
    expect_failure(client.update_backup_info(table, chosen, add_tags=["two words"]),
                   400, "OTSParameterInvalid")
    expect_failure(client.update_backup_info(table, chosen, snapshot="0000000000", tags=["x"]),
                   404, "OTSObjectNotExist")


@pytest.mark.parametrize("role", ["read-only", "read-write", "backup-operator"])
def test_roles_below_admin_may_not_update_backup_info(connect, tagged, role):
    client, table, chosen = connect(role), tagged["table"], tagged["policy"]
    before = connect().list_backups(table, chosen).raise_for_status().record
    for response in (client.update_backup_info(table, chosen, protected=True),
                     client.update_backup_info(table, chosen, snapshot=before[0]["id"],
                                               tags=["mine"])):
        expect_failure(response, 403, "OTSAuthFailed", role)
    # Nothing changed, and they may still list (with tags).
    assert client.list_backups(table, chosen).raise_for_status().record == before
    assert client.list_backups(table, chosen, tags=["mine"]).ok


# ---------------------------------------------------------------- protected snapshots


def test_a_protected_snapshot_survives_the_plans_retention_until_unprotected(connect):
    client = connect()
    table = new_table(client, "pyprotect")
    keep_one = {"backup_frequency": "hourly", "backup_destination": "pyprotect_bucket",
                "keep_last": 1}
    a = backed_up(client, table, keep_one)["snapshot"]
    protected = client.update_backup_info(table, keep_one, protected=True)
    assert protected.ok and protected.record["id"] == a and protected.record["protected"] is True

    b_job = backed_up(client, table, keep_one)
    b = b_job["snapshot"]
    assert a not in (b_job.get("forgotten") or []), b_job
    assert ids(client.list_backups(table, keep_one)) == [a, b]

    c_job = backed_up(client, table, keep_one)
    c = c_job["snapshot"]
    assert sorted(c_job.get("forgotten") or []) == [b], c_job
    assert ids(client.list_backups(table, keep_one)) == [a, c]

    unprotected = client.update_backup_info(table, keep_one, snapshot=a, protected=False)
    assert unprotected.ok and unprotected.record["protected"] is False, unprotected
    d_job = backed_up(client, table, keep_one)
    assert sorted(d_job.get("forgotten") or []) == sorted([a, c]), d_job
    assert ids(client.list_backups(table, keep_one)) == [d_job["snapshot"]]


def forget_keep_last_1(server, destination):
    data_dir = server.data_dir
    env = dict(os.environ)
    with open(os.path.join(data_dir, "backup-password"), encoding="utf-8") as f:
        env["TABLESAFE_PASSWORD"] = f.read().strip()
    env.pop("TABLESAFE_PASSWORD_FILE", None)
    env.pop("TABLESAFE_REPO", None)
    done = subprocess.run([server.binary, "forget", "--repo", os.path.join(data_dir, destination),
                           "--keep-last", "1"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done


def test_a_protected_snapshot_survives_forget_keep_last_1_until_unprotected(server, connect):
    client = connect()
    table = new_table(client, "pyforget")
    # Kept 72 hours: the plan forgets nothing here. Without archiving, so that each
    # backup is a full layer: `forget` never forgets the base of a kept incremental
    # layer, which an archiving plan's next backup builds on.
    chosen = policy("pyforget_bucket", archive=False)
    a = backed_up(client, table, chosen)["snapshot"]
    assert client.update_backup_info(table, chosen, protected=True).record["protected"] is True
    b = backed_up(client, table, chosen)["snapshot"]
    assert ids(client.list_backups(table, chosen)) == [a, b]

    forget_keep_last_1(server, "pyforget_bucket")
    assert ids(client.list_backups(table, chosen)) == [a, b]

    client.update_backup_info(table, chosen, snapshot=a, protected=False).raise_for_status()
    forget_keep_last_1(server, "pyforget_bucket")
    assert ids(client.list_backups(table, chosen)) == [b]


# ---------------------------------------------------------------- recovery info


@pytest.fixture(scope="module")
def recovered(connect):
    """A table backed up and recovered (latest snapshot), not yet verified."""
    client = connect()
    table = new_table(client, "pyrecinfo", count=4)
    chosen = policy("pyrecinfo_bucket")
    backed_up(client, table, chosen)
    restore = client.recover(table, "latest", backup_policy=chosen, wait=True)
    assert restore.status_code == 200, restore
    return {"client": client, "table": table, "policy": chosen, "restore": restore.job}


def test_update_recovery_info_records_the_note_and_outcome_in_the_job_history(connect, recovered):
    client, table, restore = recovered["client"], recovered["table"], recovered["restore"]
    first = client.update_recovery_info(table, "latest", note="quarterly drill")
    assert first.status_code == 200, first
    record = first.record
    assert (record["table"], record["restored_table"], record["rows"], record["state"]) == \
        (table, restore["target_table"], 4, "succeeded"), record
    assert (record["note"], record["outcome"]) == ("quarterly drill", None), record
    assert record["restore_job"]["id"] == restore["id"], record
    assert (record["verification"], record["verified"]) == (None, None), record

    verified = client.verify_recovery(table, "latest")
    assert verified.status_code == 200, verified
    # A fresh client finds the restore in the history; the note given before stays.
    fresh = connect()
    second = fresh.update_recovery_info(table, "latest", outcome="passed")
    assert second.status_code == 200, second
    record = second.record
    assert (record["note"], record["outcome"]) == ("quarterly drill", "passed"), record
    assert record["verification"]["id"] == verified.job["id"] and record["verified"] is True

    described = client.describe_job(restore["id"]).raise_for_status().job
    assert (described["note"], described["outcome"]) == ("quarterly drill", "passed"), described
    listed = [j for j in client.list_jobs(kind="restore").raise_for_status().record
              if j["id"] == restore["id"]]
    assert [(j["note"], j["outcome"]) for j in listed] == [("quarterly drill", "passed")]


def test_a_backup_operator_notes_recoveries_and_other_roles_may_not(connect, recovered):
    table, restore = recovered["table"], recovered["restore"]
    ops = connect("backup-operator").update_recovery_info(
        table, "latest", note="checked by ops", restore_job_id=restore["id"])
    assert ops.status_code == 200 and ops.record["note"] == "checked by ops", ops
    for role in ("read-only", "read-write"):
        refused = connect(role).update_recovery_info(table, "latest", outcome="mine",
                                                     restore_job_id=restore["id"])
        expect_failure(refused, 403, "OTSAuthFailed", role)
    assert connect().describe_job(restore["id"]).job["outcome"] != "mine"


def test_update_recovery_info_of_no_recovery_is_404(recovered):
    client, table = recovered["client"], recovered["table"]
    expect_failure(client.update_recovery_info(table, "2022-01-01T00:00:00Z", note="x"),
                   404, "OTSObjectNotExist")
    expect_failure(client.update_recovery_info(table, "latest", note="x",
                                               restore_job_id="0" * 32),
                   404, "OTSObjectNotExist")
