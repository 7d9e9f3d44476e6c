"""A server that holds only a write-only key, at the wire: `tablesafe serve
--identity-file` with an age identity the repository lists as write-only.

It backs up as any server does, but no backup API action gives back a key or a value
of the rows it backed up: a restore and a verification that reads data fail, saying
the key can write backups but not read them, and no table is made; what the API does
answer (snapshots, recovery points, jobs, the plan) holds none of the keys or values;
nor does any file the server wrote into the repository. The owner's identity, through
the CLI, reads the rows back and verifies the data.
"""

import json
import os

from test_first_day_tools import (
    PLAN_FILE,
    age_identity,
    as_json,
    clean_env,  # noqa: F401 (an autouse fixture)
    create_table,
    ok,
    put_rows,
    run_plan,
    servers,  # noqa: F401 (a fixture)
    tablesafe,
    wait_job,
)

from sdk_helpers import backup_api

NEEDLE = "needle-5e1f0b"
KEY_BASE = 736_251_904
ROWS = 300

def holds_row_data(text):
    return NEEDLE in text or any(str(KEY_BASE + i) in text for i in range(ROWS))


def test_a_write_only_server_backs_up_but_no_api_reads_a_row_back(tmp_path, servers):
    (tmp_path / "data").mkdir()
    owner, host = tmp_path / "owner.txt", tmp_path / "host.txt"
    owner_recipient, host_recipient = age_identity(owner), age_identity(host)
    vault = tmp_path / "data" / "vault"
    ok(tablesafe(["repo", "init", "--repo", vault, "--recipient", owner_recipient,
                  "--write-only-recipient", host_recipient]))

    srv = servers(tmp_path, "--identity-file", host, plans=PLAN_FILE)
    client = srv.client()
    create_table(client, "orders")
    put_rows(client, "orders", [([("id", KEY_BASE + i)], [("v", "%s %d" % (NEEDLE, i))])
                                for i in range(ROWS)])
    job = run_plan(srv, "keyed")
    assert (job["state"], job["rows"]) == ("succeeded", ROWS), job
    snapshot = job["snapshot"]
    # Every action that would read rows back fails, and says why.
    restore = backup_api(srv, "StartRestore", {"plan": "keyed", "table": "orders",
                                               "snapshot": snapshot, "target": "copy"})
    refused = [wait_job(srv, restore["job"]["id"])]
    verify = wait_job(srv, backup_api(srv, "VerifyBackup", {"plan": "keyed"})["job"]["id"])
    refused.append(verify)
    for failed in refused:
        assert failed["state"] == "failed", failed
        assert "this key can write backups but not read them" in failed["error"], failed
        assert not holds_row_data(json.dumps(failed)), failed
    assert "copy" not in client.list_table(), "a refused restore made its target table"

    # What the API does answer holds no key and no value.
    answers = [
        backup_api(srv, "ListSnapshots", {"plan": "keyed"}),
        backup_api(srv, "ListRecoveryPoints", {"plan": "keyed"}),
        backup_api(srv, "ListJobs", {}),
        backup_api(srv, "DescribeBackupPlan", {"name": "keyed"}),
        backup_api(srv, "DescribeJob", {"job_id": job["id"]}),
    ]
    snapshots = answers[0]["snapshots"]
    assert [s["id"] for s in snapshots] == [snapshot], snapshots
    for answer in answers:
        assert not holds_row_data(json.dumps(answer)), answer

    # Nor does any object the server wrote.
    for root, _, files in os.walk(vault):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                data = f.read()
            assert NEEDLE.encode() not in data, os.path.join(root, name)
    assert srv.stop() == 0

    # The owner's identity reads every row of the same snapshot.
    rows = as_json(tablesafe(["get", snapshot, "--repo", vault, "--table", "orders",
                              "--key", "id=%d" % (KEY_BASE + 7), "--json"],
                             TABLESAFE_IDENTITY_FILE=str(owner)))
    assert NEEDLE in json.dumps(rows), rows
    ok(tablesafe(["verify", "--repo", vault, "--read-data"], TABLESAFE_IDENTITY_FILE=str(owner)))
