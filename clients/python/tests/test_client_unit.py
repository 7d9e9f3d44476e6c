"""The client against a fake server: what it sends, how it decodes and verifies
answers, error bodies, waiting, and the policy and recovery point mapping."""

import io
from datetime import datetime, timedelta, timezone

import pytest
from tablestore import OTSClient
from tablestore.error import OTSServiceError

import tablesafe
from tablesafe import (BackupError, RecoveryPoint, ResponseVerificationError, TableStoreClient,
                       parse_recovery_point, policy_to_plan)
from tablesafe.client import decode_error

from fake_server import (ENDPOINT, INSTANCE, KEY_ID, SECRET, FakeSession, answer, error_body)

SEED_POLICY = {"backup_frequency": "hourly", "backup_retention_period": "72 hours",
               "backup_destination": "backup_bucket"}


def client_for(handler, **kw):
    session = FakeSession(handler)
    kw.setdefault("progress", False)
    return TableStoreClient(ENDPOINT, KEY_ID, SECRET, INSTANCE, session=session, **kw), session


def job(state="running", **fields):
    out = {"id": "j1", "kind": "backup", "state": state, "rows": 0, "bytes": 0}
    out.update(fields)
    return out


# ---------------------------------------------------------------- errors and verification

def test_error_bodies_decode_to_code_and_message():
    assert decode_error(error_body("OTSObjectNotExist", "no job 'x'")) == \
        ("OTSObjectNotExist", "no job 'x'")
    assert decode_error(error_body("OTSAuthFailed", "caf\u00e9")) == ("OTSAuthFailed", "caf\u00e9")
    with pytest.raises(ValueError):
        decode_error(b"\xff\xff\xff")


def test_a_service_error_is_a_response_with_code_message_and_request_id():
    client, sent = client_for(lambda a, r: answer(a, 404, error_body("OTSObjectNotExist",
                                                                     "no job 'nope'")))
    response = client.describe_job("nope")
    assert sent.sent == [("DescribeJob", {"job_id": "nope"})]
    assert (response.status_code, response.error_code, response.error_message) == \
        (404, "OTSObjectNotExist", "no job 'nope'")
    assert response.request_id == "req-404" and not response.ok and not response
    with pytest.raises(BackupError) as raised:
        response.raise_for_status()
    err = raised.value
    assert isinstance(err, OTSServiceError)
    assert (err.get_http_status(), err.get_error_code(), err.get_error_message()) == \
        (404, "OTSObjectNotExist", "no job 'nope'")
    assert err.status_code == 404 and "no job 'nope'" in str(err)


def test_a_success_is_200_with_data_and_job():
    client, _ = client_for(lambda a, r: answer(a, 200, {"job": job("succeeded")}))
    response = client.describe_job("j1")
    assert response.ok and response.status_code == 200
    assert response.job == job("succeeded") and response.record is response.job
    assert response.raise_for_status() is response
    assert response.json() == {"job": job("succeeded")}


@pytest.mark.parametrize("tamper, message", [
    (lambda h: h.update({"authorization": h["authorization"][:-4] + "AAA="}), "Invalid signature"),
    (lambda h: h.update({"x-ots-contentmd5": "1B2M2Y8AsgTpgAmY7PhCfg=="}), "MD5 mismatch"),
    (lambda h: h.pop("authorization"), "Authorization"),
    (lambda h: h.update({"x-ots-extra": "unsigned"}), "Invalid signature"),
])
def test_a_tampered_success_is_raised_not_returned(tamper, message):
    client, _ = client_for(lambda a, r: answer(a, 200, {"job": job()}, tamper=tamper))
    with pytest.raises(ResponseVerificationError, match=message):
        client.describe_job("j1")


def test_verification_errors_are_the_sdks_client_errors():
    from tablestore.error import OTSClientError
    client, _ = client_for(lambda a, r: answer(a, 200, {"job": job()}, secret="other"))
    with pytest.raises(OTSClientError) as raised:
        client.describe_job("j1")
    assert raised.value.get_http_status() == 200
    assert raised.value.get_error_message() == "Invalid signature in response."


def test_a_response_signed_with_another_secret_or_for_another_action_is_refused():
    client, _ = client_for(lambda a, r: answer(a, 200, {"job": job()}, secret="other"))
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        client.describe_job("j1")
    client, _ = client_for(lambda a, r: answer("ListJobs", 200, {"job": job()}))
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        client.describe_job("j1")


def test_a_success_that_is_not_json_is_refused():
    client, _ = client_for(lambda a, r: answer(a, 200, b"\x0a\x01x", contenttype="protocol buffer"))
    with pytest.raises(ResponseVerificationError, match="application/json"):
        client.describe_job("j1")


def test_an_auth_failure_may_be_unsigned_other_errors_must_verify():
    bad_key = answer("DescribeJob", 403, error_body("OTSAuthFailed", "Signature mismatch."),
                     secret="whatever")
    client, _ = client_for(lambda a, r: bad_key)
    response = client.describe_job("j1")
    assert (response.status_code, response.error_code) == (403, "OTSAuthFailed")
    wrong = answer("DescribeJob", 404, error_body("OTSObjectNotExist", "x"), secret="whatever")
    client, _ = client_for(lambda a, r: wrong)
    with pytest.raises(ResponseVerificationError, match="Invalid signature"):
        client.describe_job("j1")
    garbage = answer("DescribeJob", 500, b"\xff\xfe")
    client, _ = client_for(lambda a, r: garbage)
    with pytest.raises(ResponseVerificationError, match="HTTP status: 500"):
        client.describe_job("j1")


# ---------------------------------------------------------------- waiting

def test_wait_polls_until_the_job_ends_and_shows_progress():
    states = [job(rows=10, rows_total=30), job(rows=20, rows_total=30),
              job("succeeded", rows=30, rows_total=30, snapshot="abcdef0123", verified=True)]
    client, sent = client_for(lambda a, r: answer(a, 200, {"job": states.pop(0)}))
    out = io.StringIO()
    response = client.wait_for_job("j1", progress=out)
    assert response.ok and response.job["state"] == "succeeded"
    assert [a for a, _ in sent.sent] == ["DescribeJob"] * 3
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("backup j1: running, 10/30 rows")
    assert "succeeded" in lines[-1] and "snapshot abcdef01" in lines[-1] and len(lines) == 3


@pytest.mark.parametrize("final, code", [
    (job("failed", error="bucket unreachable"), tablesafe.JOB_FAILED),
    (job("interrupted"), tablesafe.JOB_INTERRUPTED),
    (job("succeeded", kind="verify-backup", verified=False), tablesafe.CHECK_FAILED),
])
def test_a_waited_job_that_does_not_succeed_is_a_failure(final, code):
    client, _ = client_for(lambda a, r: answer(a, 200, {"job": final}))
    response = client.wait_for_job("j1", action="StartBackup")
    assert (response.status_code, response.http_status, response.error_code) == (500, 200, code)
    assert response.job == final and response.action == "StartBackup"
    if final.get("error"):
        assert final["error"] in response.error_message
    with pytest.raises(BackupError) as raised:
        response.raise_for_status()
    assert raised.value.job == final


# ---------------------------------------------------------------- the seed's calls, as sent

class FakeOTS:
    """The SDK part: describe_table answers for the tables in ``tables``."""

    def __init__(self, tables):
        self.tables = tables

    def describe_table(self, name):
        if name not in self.tables:
            raise OTSServiceError(404, "OTSObjectNotExist", "Requested table does not exist.", "r")
        return object()


def test_backup_creates_the_plan_then_runs_it_and_waits():
    plans = {}

    def handler(action, request):
        if action == "DescribeBackupPlan":
            if request["name"] not in plans:
                return answer(action, 404, error_body("OTSObjectNotExist", "no backup plan"))
            return answer(action, 200, {"plan": plans[request["name"]]})
        if action == "CreateBackupPlan":
            plans[request["plan"]["name"]] = dict(request["plan"], verify_data_percent=0,
                                                  enabled=True)
            return answer(action, 200, {"plan": request["plan"]})
        if action == "StartBackup":
            return answer(action, 200, {"job": job(plan=request["plan"])})
        if action == "DescribeJob":
            return answer(action, 200, {"job": job("succeeded", snapshot="s1", rows=3)})
        raise AssertionError(action)

    client, session = client_for(handler)
    client.ots = FakeOTS({"users"})
    response = client.backup("users", SEED_POLICY, wait=True)
    assert response.status_code == 200, response
    assert response.job["snapshot"] == "s1"
    plan = {"name": "users_hourly", "tables": ["users"], "destination": "backup_bucket",
            "archive": True, "every": "1h", "keep_within": "72h"}
    assert session.sent == [("DescribeBackupPlan", {"name": "users_hourly"}),
                            ("CreateBackupPlan", {"plan": plan}),
                            ("StartBackup", {"plan": "users_hourly"}),
                            ("DescribeJob", {"job_id": "j1"})]
    # Again: the plan matches (with the server's defaults), so it is only run.
    session.sent.clear()
    assert client.backup("users", SEED_POLICY).ok
    assert [a for a, _ in session.sent] == ["DescribeBackupPlan", "StartBackup"]
    # A changed policy updates the plan.
    session.sent.clear()
    handler_plans = dict(plans)
    assert handler_plans
    changed = dict(SEED_POLICY, backup_retention_period="7 days")

    def with_update(action, request):
        if action == "UpdateBackupPlan":
            return answer(action, 200, {"plan": request["plan"]})
        return handler(action, request)
    session.handler = with_update
    assert client.backup("users", changed).ok
    assert session.sent[1] == ("UpdateBackupPlan", {"plan": dict(plan, keep_within="7d")})


def test_backup_of_a_missing_table_is_the_sdk_404_and_sends_nothing():
    client, session = client_for(lambda a, r: pytest.fail("no request expected"))
    client.ots = FakeOTS(set())
    response = client.backup("nosuch", SEED_POLICY)
    assert (response.status_code, response.error_code) == (404, "OTSObjectNotExist")
    assert session.sent == []


def test_recover_and_verify_recovery_send_the_point_and_find_the_restore():
    def handler(action, request):
        if action == "StartRestore":
            return answer(action, 200, {"job": job(id="r1", kind="restore")})
        if action == "VerifyRestore":
            return answer(action, 200, {"job": job("succeeded", id="v1", kind="verify-restore",
                                                   verified=True)})
        if action == "DescribeJob":
            return answer(action, 200, {"job": job("succeeded", id=request["job_id"],
                                                   kind="restore")})
        if action == "ListJobs":
            return answer(action, 200, {"jobs": [
                job("succeeded", id="r0", kind="restore", tables=["users"], to_time_ms=5),
                job("succeeded", id="r9", kind="restore", tables=["users"],
                    to_time_ms=1640995200000)]})
        raise AssertionError(action)

    client, session = client_for(handler)
    response = client.recover("users", "2022-01-01T00:00:00Z", backup_policy=SEED_POLICY)
    assert response.ok and response.job["id"] == "r1"
    assert session.sent[-1] == ("StartRestore", {"plan": "users_hourly", "table": "users",
                                                 "time_ms": 1640995200000})
    # The same point, written another way, finds the restore this client started.
    same = datetime(2022, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    assert client.verify_recovery("users", same).ok
    assert session.sent[-1] == ("VerifyRestore", {"job_id": "r1"})
    # A fresh client finds it in the job history.
    fresh, fresh_session = client_for(handler)
    assert fresh.verify_recovery("users", "2022-01-01T00:00:00Z").ok
    assert fresh_session.sent[-1] == ("VerifyRestore", {"job_id": "r9"})
    missing = fresh.verify_recovery("users", "2023-01-01T00:00:00Z")
    assert (missing.status_code, missing.error_code) == (404, "OTSObjectNotExist")
    # A restore that is still running is waited for; one that failed is the answer.
    states = [job(id="r5", kind="restore"), job("failed", id="r5", kind="restore", error="boom")]
    failing, failing_session = client_for(
        lambda a, r: answer(a, 200, {"job": states.pop(0)}) if a == "DescribeJob" else handler(a, r))
    failed = failing.verify_recovery("users", "latest", restore_job_id="r5")
    assert (failed.status_code, failed.error_code, failed.job["id"]) == (500, "JobFailed", "r5")
    assert "boom" in failed.error_message
    assert [a for a, _ in failing_session.sent] == ["DescribeJob", "DescribeJob"]
    # Snapshot ids, a target table and overwrite are sent as the API names them.
    client.recover("users", "9D2C41F0", target_table="users_copy", overwrite=True,
                   destination="s3://b/p")
    assert session.sent[-1] == ("StartRestore", {"destination": "s3://b/p", "table": "users",
                                                 "snapshot": "9d2c41f0", "target": "users_copy",
                                                 "overwrite": True})


def test_verify_backup_waits_for_the_running_backup_and_checks_its_snapshot():
    states = [job(plan="users_hourly"),
              job("succeeded", plan="users_hourly", snapshot="s7", tables=["users"])]

    def handler(action, request):
        if action == "ListJobs":
            assert request == {"plan": "users_hourly", "kind": "backup", "limit": 1}
            return answer(action, 200, {"jobs": [job(plan="users_hourly")]})
        if action == "DescribeJob":
            return answer(action, 200, {"job": states.pop(0)})
        if action == "VerifyBackup":
            return answer(action, 200, {"job": job(id="v", kind="verify-backup")})
        raise AssertionError(action)
    client, session = client_for(handler)
    response = client.verify_backup("users", SEED_POLICY, wait=False)
    assert response.ok and response.job["kind"] == "verify-backup"
    assert session.sent[-1] == ("VerifyBackup", {"plan": "users_hourly", "snapshot": "s7"})
    assert not states


def test_the_repository_of_a_table_is_the_plan_naming_it_when_nothing_says_otherwise():
    def handler(action, request):
        if action == "ListBackupPlans":
            return answer(action, 200, {"plans": [
                {"plan": {"name": "default", "tables": []}},
                {"plan": {"name": "users_daily", "tables": ["users", "orders"]}}]})
        if action == "ListSnapshots":
            return answer(action, 200, {"snapshots": [
                {"id": "a", "tables": [{"name": "orders"}]},
                {"id": "b", "tables": [{"name": "users"}, {"name": "orders"}]}]})
        raise AssertionError(action)
    client, session = client_for(handler)
    listed = client.list_backups("users")
    assert session.sent[-1] == ("ListSnapshots", {"plan": "users_daily"})
    assert [s["id"] for s in listed.record] == ["b"]
    client.list_backups("items")
    assert session.sent[-1] == ("ListSnapshots", {})  # the server's default plan


def test_the_client_is_an_otsclient_for_table_and_row_operations():
    client = TableStoreClient(ENDPOINT, KEY_ID, SECRET, INSTANCE)
    assert isinstance(client.ots, OTSClient)
    for name in ("create_table", "put_row", "get_row", "get_range", "batch_write_row",
                 "delete_table", "list_table", "update_row", "batch_get_row", "describe_table"):
        assert getattr(client, name).__self__ is client.ots, name
        assert name in dir(client)
    with pytest.raises(AttributeError):
        client.no_such_method


# ---------------------------------------------------------------- policy and points

def test_the_seed_policy_is_an_hourly_plan_kept_72_hours():
    assert policy_to_plan("users", SEED_POLICY) == {
        "name": "users_hourly", "tables": ["users"], "every": "1h", "keep_within": "72h",
        "destination": "backup_bucket", "archive": True}


@pytest.mark.parametrize("frequency, every, cron, name", [
    ("hourly", "1h", None, "users_hourly"),
    ("Daily", "1d", None, "users_daily"),
    ("weekly", "7d", None, "users_weekly"),
    ("every 15m", "15m", None, "users_every_15m"),
    ("every 6 hours", "6h", None, "users_every_6_hours"),
    ("90 seconds", "90s", None, "users_90_seconds"),
    ("0 3 * * *", None, "0 3 * * *", None),
    ("0 0 3 * * *", None, "0 0 3 * * *", None),
])
def test_frequencies_are_words_intervals_or_cron(frequency, every, cron, name):
    plan = policy_to_plan("users", dict(SEED_POLICY, backup_frequency=frequency))
    assert (plan.get("every"), plan.get("cron")) == (every, cron)
    if name:
        assert plan["name"] == name
    else:
        assert plan["name"].startswith("users_cron_") and len(plan["name"]) == len("users_cron_") + 8


@pytest.mark.parametrize("words, keep", [("72 hours", "72h"), ("7 days", "7d"), ("2 weeks", "14d"),
                                         ("72h", "72h"), ("an hour", "1h"), ("forever", "forever")])
def test_retention_periods_become_keep_within(words, keep):
    assert policy_to_plan("t", dict(SEED_POLICY, backup_retention_period=words))["keep_within"] == keep


def test_policies_take_plan_fields_and_refuse_unknown_keys():
    plan = policy_to_plan("t", dict(SEED_POLICY, name="nightly", archive=False, keep_daily=7))
    assert (plan["name"], plan["archive"], plan["keep_daily"]) == ("nightly", False, 7)
    with pytest.raises(ValueError, match="backup_frequncy"):
        policy_to_plan("t", dict(SEED_POLICY, backup_frequncy="daily"))
    with pytest.raises(ValueError, match="backup_destination"):
        policy_to_plan("t", {"backup_frequency": "hourly"})


@pytest.mark.parametrize("text, expected", [
    ("2022-01-01T00:00:00Z", RecoveryPoint(time_ms=1640995200000)),
    ("2022-01-01T00:00:00.250Z", RecoveryPoint(time_ms=1640995200250)),
    ("2022-01-01t01:00:00.2504+01:00", RecoveryPoint(time_ms=1640995200250)),
    ("2021-12-31T19:00:00-05:00", RecoveryPoint(time_ms=1640995200000)),
    (1640995200000, RecoveryPoint(time_ms=1640995200000)),
    (datetime(2022, 1, 1, tzinfo=timezone.utc), RecoveryPoint(time_ms=1640995200000)),
    ("9d2c41f0", RecoveryPoint(snapshot="9d2c41f0")),
    ("latest", RecoveryPoint()),
    (None, RecoveryPoint()),
])
def test_recovery_points(text, expected):
    assert parse_recovery_point(text) == expected


@pytest.mark.parametrize("bad", ["2022-01-01T00:00:00", "yesterday", "2022-01-01", "abc",
                                 datetime(2022, 1, 1), True, 1.5])
def test_recovery_points_that_are_neither_time_nor_snapshot_are_refused(bad):
    with pytest.raises(ValueError):
        parse_recovery_point(bad)


# ---------------------------------------------------------------- backup and recovery info

SNAPSHOT = {"id": "s7abcdef", "time_ms": 1740794400000, "plan": "users_hourly", "origin": "o",
            "added_bytes": 900, "description": "before the migration", "tags": ["gold", "q4"],
            "protected": True, "verified": True,
            "tables": [{"name": "orders", "rows": 9, "cells": 18, "data_bytes": 400},
                       {"name": "users", "rows": 3, "cells": 6, "data_bytes": 120}]}


def test_update_backup_info_updates_the_snapshot_of_the_newest_backup_and_returns_its_record():
    states = [job(plan="users_hourly"),
              job("succeeded", plan="users_hourly", snapshot="s7abcdef", tables=["users"])]

    def handler(action, request):
        if action == "ListJobs":
            return answer(action, 200, {"jobs": [job(plan="users_hourly")]})
        if action == "DescribeJob":
            return answer(action, 200, {"job": states.pop(0)})
        if action == "UpdateSnapshotInfo":
            return answer(action, 200, {"snapshot": SNAPSHOT})
        raise AssertionError(action)
    client, session = client_for(handler)
    response = client.update_backup_info("users", SEED_POLICY, description="before the migration",
                                         tags=["q4", "gold"], protected=True)
    assert response.status_code == 200 and response.action == "UpdateSnapshotInfo", response
    assert session.sent[-1] == ("UpdateSnapshotInfo", {
        "plan": "users_hourly", "snapshot": "s7abcdef", "table": "users",
        "description": "before the migration", "tags": ["q4", "gold"], "protected": True})
    assert not states  # the running backup was waited for
    record = response.record
    assert (record["id"], record["time_ms"], record["table"], record["rows"], record["bytes"],
            record["cells"]) == ("s7abcdef", 1740794400000, "users", 3, 120, 6)
    assert (record["verified"], record["tags"], record["description"], record["protected"]) == \
        (True, ["gold", "q4"], "before the migration", True)
    assert response.data == {"snapshot": SNAPSHOT}


def test_update_backup_info_sends_only_what_is_given_and_the_server_picks_the_newest():
    def handler(action, request):
        if action == "ListJobs":
            return answer(action, 200, {"jobs": []})
        if action == "UpdateSnapshotInfo":
            return answer(action, 200, {"snapshot": {"id": "s1", "time_ms": 1,
                                                     "tables": [{"name": "users", "rows": 1}]}})
        raise AssertionError(action)
    client, session = client_for(handler)
    response = client.update_backup_info("users", SEED_POLICY)
    assert response.ok
    assert session.sent[-1] == ("UpdateSnapshotInfo", {"plan": "users_hourly", "table": "users"})
    # Fields the server did not send read as "nothing recorded".
    assert (response.record["verified"], response.record["tags"], response.record["description"],
            response.record["protected"]) == (None, [], None, False)
    # A snapshot given is not looked up; add/remove tags and unprotecting are sent as such.
    session.sent.clear()
    client.update_backup_info("users", SEED_POLICY, snapshot="s1", add_tags="keep",
                              remove_tags=["old"], protected=False)
    assert session.sent == [("UpdateSnapshotInfo", {
        "plan": "users_hourly", "snapshot": "s1", "table": "users", "add_tags": ["keep"],
        "remove_tags": ["old"], "protected": False})]
    with pytest.raises(TypeError):
        client.update_backup_info("users", SEED_POLICY, snapshot="s1", protected="yes")
    with pytest.raises(TypeError):
        client.update_backup_info("users", SEED_POLICY, snapshot="s1", tags=[1])


def test_update_backup_info_refused_is_the_servers_error():
    def handler(action, request):
        if action == "ListJobs":
            return answer(action, 200, {"jobs": []})
        return answer(action, 403, error_body(
            "OTSAuthFailed", "The access key 'ops' has the role 'backup-operator', which does not "
            "allow UpdateSnapshotInfo (manage plans)."))
    client, _ = client_for(handler)
    response = client.update_backup_info("users", SEED_POLICY, protected=True)
    assert (response.status_code, response.error_code, response.record) == \
        (403, "OTSAuthFailed", None)
    with pytest.raises(BackupError):
        response.raise_for_status()


def test_list_backups_sends_tags():
    client, session = client_for(lambda a, r: answer(a, 200, {"snapshots": [
        {"id": "b", "tags": ["gold"], "tables": [{"name": "users"}]}]}))
    listed = client.list_backups("users", SEED_POLICY, tags=["gold"])
    assert session.sent[-1] == ("ListSnapshots", {"plan": "users_hourly", "tags": ["gold"]})
    assert [s["id"] for s in listed.record] == ["b"]
    client.list_backups("users", destination="bucket", tags="gold")
    assert session.sent[-1] == ("ListSnapshots", {"destination": "bucket", "tags": ["gold"]})


def test_update_recovery_info_notes_the_restore_and_returns_the_recovery_record():
    restore = job("succeeded", id="r9", kind="restore", tables=["users"], to_time_ms=1640995200000,
                  target_table="users_restored_20220101T000000", rows=3, bytes=99,
                  snapshot="s1")
    noted = dict(restore, note="quarterly drill", outcome="passed")
    checks = [job("succeeded", id="v2", kind="verify-restore", restore_job="r9", verified=True),
              job("succeeded", id="v1", kind="verify-restore", restore_job="r9", verified=False),
              job("succeeded", id="v0", kind="verify-restore", restore_job="r0", verified=True)]

    def handler(action, request):
        if action == "ListJobs" and request.get("kind") == "restore":
            return answer(action, 200, {"jobs": [restore]})
        if action == "ListJobs":
            assert request["kind"] == "verify-restore"
            return answer(action, 200, {"jobs": checks})
        if action == "DescribeJob":
            return answer(action, 200, {"job": restore})
        if action == "UpdateJobNote":
            return answer(action, 200, {"job": noted})
        raise AssertionError(action)
    client, session = client_for(handler)
    response = client.update_recovery_info("users", "2022-01-01T00:00:00Z", note="quarterly drill",
                                           outcome="passed")
    assert response.status_code == 200 and response.action == "UpdateJobNote", response
    assert ("UpdateJobNote", {"job_id": "r9", "note": "quarterly drill", "outcome": "passed"}) in \
        session.sent
    record = response.record
    assert (record["table"], record["restored_table"], record["rows"], record["to_time_ms"],
            record["note"], record["outcome"]) == \
        ("users", "users_restored_20220101T000000", 3, 1640995200000, "quarterly drill", "passed")
    assert record["restore_job"] == noted and response.job == noted
    assert record["verification"]["id"] == "v2" and record["verified"] is True
    # Nothing given: nothing changed, the record all the same.
    session.sent.clear()
    again = client.update_recovery_info("users", "2022-01-01T00:00:00Z")
    assert again.ok and ("UpdateJobNote", {"job_id": "r9"}) in session.sent
    # No restore to that point: 404, and nothing noted.
    session.sent.clear()
    missing = client.update_recovery_info("users", "2023-01-01T00:00:00Z", note="x")
    assert (missing.status_code, missing.error_code) == (404, "OTSObjectNotExist")
    assert all(a != "UpdateJobNote" for a, _ in session.sent)


def test_update_recovery_info_without_a_verification_says_none():
    restore = job("succeeded", id="r1", kind="restore", tables=["users"], target_table="t")

    def handler(action, request):
        if action == "StartRestore":
            return answer(action, 200, {"job": dict(restore, state="running")})
        if action == "DescribeJob":
            return answer(action, 200, {"job": restore})
        if action == "UpdateJobNote":
            return answer(action, 200, {"job": dict(restore, outcome="failed over")})
        if action == "ListJobs":
            return answer(action, 200, {"jobs": []})
        raise AssertionError(action)
    client, session = client_for(handler)
    client.recover("users", "latest", destination="b")
    response = client.update_recovery_info("users", "latest", outcome="failed over")
    assert response.ok
    assert session.sent[2] == ("UpdateJobNote", {"job_id": "r1", "outcome": "failed over"})
    assert (response.record["verification"], response.record["verified"],
            response.record["outcome"]) == (None, None, "failed over")
