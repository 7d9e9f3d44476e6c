"""The README's example runs as written against a fresh `tablesafe serve`, prints its
six success lines, and leaves a recovered table holding the rows of the chosen
recovery point (read through the official SDK)."""

import os
import re

import pytest
from tablestore import INF_MAX, INF_MIN, OTSClient
from tablestore.retry import NoRetryPolicy

from tablesafe import parse_recovery_point

from conftest import start_server

README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")
KEY_ID, SECRET = "readme-pyclient", "readme-pyclient-secret-0123456789"
SUCCESS_LINES = ["Backup successful", "Backup verification successful",
                 "Backup info updated successfully", "Recovery successful",
                 "Recovery verification successful", "Recovery info updated successfully"]
SEED_CALLS = ["client.backup(table_name, backup_policy)",
              "client.verify_backup(table_name, backup_policy)",
              "client.update_backup_info(table_name, backup_policy)",
              "client.recover(table_name, recovery_point)",
              "client.verify_recovery(table_name, recovery_point)",
              "client.update_recovery_info(table_name, recovery_point)"]


def readme_example():
    text = open(README, encoding="utf-8").read()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "the package README should hold exactly one Python example"
    return blocks[0]


@pytest.fixture
def readme_server(tmp_path):
    srv = start_server(tmp_path, instance="tablesafe", access_key_id=KEY_ID,
                       access_key_secret=SECRET)
    yield srv
    srv.stop()


def rows(client, table):
    out = []
    start = [("id", INF_MIN)]
    while start is not None:
        _, start, got, _ = client.get_range(table, "FORWARD", start, [("id", INF_MAX)],
                                            max_version=1)
        out.extend((r.primary_key[0][1], sorted(tuple(c) for c in r.attribute_columns))
                   for r in got)
    return out


def sdk_job(client, job_id):
    return client.describe_job(job_id).raise_for_status().job


def test_the_repository_readme_carries_the_same_example():
    top = os.path.join(os.path.dirname(README), "..", "..", "README.md")
    blocks = re.findall(r"```python\n(.*?)```", open(top, encoding="utf-8").read(), re.S)
    assert blocks[1:] == [readme_example()], "README.md and clients/python/README.md differ"


def test_the_readme_example_makes_the_seeds_six_calls_with_the_seeds_arguments():
    calls = re.findall(r"^response = (client\.\w+\(.*\))$", readme_example(), re.M)
    assert calls == SEED_CALLS


def test_the_readme_example_runs_as_written(readme_server, monkeypatch, capsys):
    monkeypatch.setenv("TABLESAFE_ENDPOINT", readme_server.endpoint)
    monkeypatch.setenv("TABLESAFE_INSTANCE", "tablesafe")
    monkeypatch.setenv("TABLESAFE_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("TABLESAFE_ACCESS_KEY_SECRET", SECRET)
    scope = {"__name__": "__readme__"}
    exec(compile(readme_example(), "README.md", "exec"), scope)
    out = capsys.readouterr().out
    assert out.splitlines() == SUCCESS_LINES, out

    # The last response is the recovery record: the restore, its verification, the table.
    record = scope["response"].record
    verified = record["verification"]
    assert verified["kind"] == "verify-restore" and verified["verified"] is True, record
    assert record["verified"] is True and record["rows"] == 3, record
    restored = verified["target_table"]
    assert restored.startswith("users_restored_") and record["restored_table"] == restored, record
    assert record["restore_job"]["id"] == verified["restore_job"], record
    assert (record["note"], record["outcome"]) == (None, None), record

    # The backup record the example read: its one snapshot, verified, no info yet.
    listed = scope["client"].list_backups("users").raise_for_status().record
    assert len(listed) == 1 and listed[0]["verified"] is True, listed
    assert (listed[0]["tags"], listed[0]["description"], listed[0]["protected"]) == \
        ([], None, False), listed

    sdk = OTSClient(readme_server.endpoint, KEY_ID, SECRET, "tablesafe",
                    retry_policy=NoRetryPolicy())
    assert set(sdk.list_table()) == {"users", restored}
    point_ms = parse_recovery_point(scope["recovery_point"]).time_ms
    restore = sdk_job(scope["client"], verified["restore_job"])
    assert (restore["kind"], restore["to_time_ms"], restore["target_table"]) == \
        ("restore", point_ms, restored), restore
    live = rows(sdk, "users")
    assert [(i, cells[0][1]) for i, cells in live] == [(1, "Ada"), (2, "Grace"), (3, "Edsger")]
    # The rows of that time: every row written at or before it (each row has one cell).
    assert all(cells[0][2] <= point_ms for _, cells in live)
    assert rows(sdk, restored) == live
