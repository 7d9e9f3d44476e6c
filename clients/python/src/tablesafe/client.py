"""``TableStoreClient``: the official SDK's table and row operations, plus TableSafe's
backup API.

Table and row operations (``create_table``, ``put_row``, ``get_range``,
``batch_write_row``, ...) are those of a wrapped ``tablestore.OTSClient``, built
with the same arguments: the client hands every attribute it does not define to
it. The backup API (docs/API.md, "Backup API") is JSON over the same signed
protocol; this module signs those requests, verifies their answers as the SDK
verifies its own, and decodes their protobuf ``Error`` bodies.
"""

from __future__ import annotations

import json
import sys
import time
from typing import (TYPE_CHECKING, Any, Dict, Iterable, List, Mapping, Optional, TextIO, Tuple,
                    Union)
from urllib.parse import urlparse

import requests
from tablestore import OTSClient
from tablestore.error import OTSServiceError

from .policy import (RecoveryPoint, RecoveryPointLike, format_time_ms, parse_recovery_point,
                     plan_name, policy_to_plan)
from .response import BackupResponse, job_outcome
from .signing import ResponseVerificationError, request_headers, v4_signing_key, verify_response
from .types import Job, Plan

__all__ = ["TableStoreClient", "BACKUP_ACTIONS"]

#: The backup API's actions (docs/API.md).
BACKUP_ACTIONS = (
    "CreateBackupPlan", "UpdateBackupPlan", "DeleteBackupPlan", "ListBackupPlans",
    "DescribeBackupPlan", "StartBackup", "ListSnapshots", "ListRecoveryPoints", "VerifyBackup",
    "StartRestore", "VerifyRestore", "ListJobs", "DescribeJob", "UpdateSnapshotInfo",
    "UpdateJobNote",
)

#: Plan fields the server fills in when a plan omits them.
_PLAN_DEFAULTS: Dict[str, Any] = {"tables": [], "verify_data_percent": 0, "archive": False,
                                  "enabled": True}

#: First and longest pause between two DescribeJob calls of a waiting call.
FIRST_POLL_SECONDS = 0.02
LONGEST_POLL_SECONDS = 1.0

Policy = Mapping[str, Any]
Progress = Union[bool, TextIO, None]

if TYPE_CHECKING:  # type checkers see every OTSClient method on TableStoreClient
    from tablestore import OTSClient as _Base
else:
    _Base = object


def decode_error(body: bytes) -> Tuple[str, str]:
    """``(code, message)`` of a protobuf ``Error`` body (fields 1 and 2).

    Raises ``ValueError`` for bytes that are not one."""
    from tablestore.protobuf import table_store_pb2 as pb

    err = pb.Error()
    try:
        err.ParseFromString(body)
    except Exception as e:  # google.protobuf.message.DecodeError
        raise ValueError("not a protobuf Error: %s" % e) from None
    return err.code, err.message


class TableStoreClient(_Base):
    """A Tablestore client for a TableSafe server: every table and row operation
    of ``tablestore.OTSClient``, and backups, verifications and recoveries.

    ``TableStoreClient(endpoint, access_key_id, access_key_secret, instance_name)``
    takes the arguments of ``OTSClient`` (``retry_policy``, ``socket_timeout``,
    ``sts_token``, ``region`` for V4 signing, ...) and passes them to it; ``progress``
    (default ``True``: stderr; a file, or ``False``) is where a call with
    ``wait=True`` shows its job's progress.

    The backup calls never raise for a refused request: they return a
    :class:`~tablesafe.BackupResponse` whose ``status_code`` is 200 on success;
    call ``raise_for_status()`` to turn a failure into a
    :class:`~tablesafe.BackupError`. A response that fails verification (MD5,
    signature, date) raises :class:`~tablesafe.ResponseVerificationError`; a
    network failure raises the ``requests`` exception.
    """

    def __init__(self, endpoint: str, access_key_id: str, access_key_secret: str,
                 instance_name: str, *, progress: Progress = True,
                 session: Optional[requests.Session] = None, **kwargs: Any) -> None:
        self.ots = OTSClient(endpoint, access_key_id, access_key_secret, instance_name, **kwargs)
        scheme, netloc, path = urlparse(endpoint)[:3]
        self.endpoint = endpoint
        self._base_url = "%s://%s%s" % (scheme, netloc, path.rstrip("/"))
        self.access_key_id = access_key_id
        self._secret = access_key_secret
        self.instance_name = instance_name
        self._sts_token: Optional[str] = kwargs.get("sts_token")
        self._region: Optional[str] = kwargs.get("region") or None
        self._sign_date: Optional[str] = kwargs.get("sign_date")
        timeout = kwargs.get("socket_timeout")
        self._timeout: float = 50.0 if timeout is None else timeout
        self._session = session if session is not None else requests.Session()
        self.progress = progress
        # table -> plan name of the policy last used with it; (table, point) -> restore job id
        self._plans: Dict[str, str] = {}
        self._restores: Dict[Tuple[str, RecoveryPoint], str] = {}

    # ------------------------------------------------------------------ the SDK

    def __getattr__(self, name: str) -> Any:
        # Only called for attributes this class does not define: the SDK's.
        if name in ("ots", "__setstate__"):
            raise AttributeError(name)
        return getattr(self.ots, name)

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | {n for n in dir(self.ots) if not n.startswith("_")})

    # ------------------------------------------------------------------ transport

    def call(self, action: str, request: Optional[Mapping[str, Any]] = None) -> BackupResponse:
        """Sends one backup API request (``request`` is its JSON object; ``{}`` when
        ``None``), signed like a Tablestore request, and returns the verified answer:
        ``data`` on 200, else the decoded ``Error`` code and message."""
        body = json.dumps(dict(request or {}), separators=(",", ":")).encode("utf-8")
        headers = request_headers(action, body, self.access_key_id, self._secret,
                                  self.instance_name, sts_token=self._sts_token,
                                  region=self._region, sign_date=self._sign_date)
        headers["Accept-Encoding"] = "identity"
        answer = self._session.post(self._base_url + "/" + action, data=body, headers=headers,
                                    timeout=self._timeout, allow_redirects=False)
        status = answer.status_code
        got = {k.lower(): v for k, v in answer.headers.items()}
        raw = answer.content
        key = self._secret
        if "x-ots-signaturev4" in headers:
            key = v4_signing_key(self._secret, headers["x-ots-signdate"], self._region or "")
        request_id = got.get("x-ots-requestid")
        if 200 <= status < 300:
            verify_response(action, status, got, raw, self.access_key_id, key)
            if got.get("x-ots-contenttype") != "application/json":
                raise ResponseVerificationError(
                    "%s answered %r, not application/json" % (action, got.get("x-ots-contenttype")),
                    status)
            try:
                data = json.loads(raw.decode("utf-8")) if raw else {}
            except ValueError as e:
                raise ResponseVerificationError("%s answered invalid JSON: %s" % (action, e),
                                                status) from None
            if not isinstance(data, dict):
                raise ResponseVerificationError("%s answered JSON that is not an object" % action,
                                                status)
            return BackupResponse(action, status, data=data, job=data.get("job"),
                                  request_id=request_id)
        # An error: as the SDK, check headers first (MD5, date), decode, then the
        # signature unless it is a 403 OTSAuthFailed.
        verify_response(action, status, got, raw, self.access_key_id, key, error_code="OTSAuthFailed")
        try:
            code, message = decode_error(raw)
        except ValueError:
            raise ResponseVerificationError("HTTP status: %s, reason: %s." % (status, answer.reason),
                                            status) from None
        if status == 403 and code != "OTSAuthFailed":
            verify_response(action, status, got, raw, self.access_key_id, key, error_code=code)
        return BackupResponse(action, status, error_code=code, error_message=message,
                              request_id=request_id)

    # ------------------------------------------------------------------ the API, action by action

    def create_backup_plan(self, plan: Union[Plan, Mapping[str, Any]]) -> BackupResponse:
        """CreateBackupPlan: ``data`` is the PlanStatus (409 if the name exists)."""
        return self.call("CreateBackupPlan", {"plan": dict(plan)})

    def update_backup_plan(self, plan: Union[Plan, Mapping[str, Any]]) -> BackupResponse:
        """UpdateBackupPlan: replaces the plan of that name (404 if none)."""
        return self.call("UpdateBackupPlan", {"plan": dict(plan)})

    def delete_backup_plan(self, name: str) -> BackupResponse:
        """DeleteBackupPlan; the plan's snapshots and job history stay."""
        return self.call("DeleteBackupPlan", {"name": name})

    def list_backup_plans(self) -> BackupResponse:
        """ListBackupPlans: ``data["plans"]`` is every PlanStatus, in file order."""
        response = self.call("ListBackupPlans")
        response.record = response.data.get("plans")
        return response

    def describe_backup_plan(self, name: str) -> BackupResponse:
        """DescribeBackupPlan: ``data`` is the PlanStatus (404 if none)."""
        response = self.call("DescribeBackupPlan", {"name": name})
        response.record = response.data or None
        return response

    def list_jobs(self, plan: Optional[str] = None, kind: Optional[str] = None,
                  limit: Optional[int] = None) -> BackupResponse:
        """ListJobs: ``record`` is the jobs, newest first (100 unless ``limit``)."""
        request = {k: v for k, v in (("plan", plan), ("kind", kind), ("limit", limit)) if v is not None}
        response = self.call("ListJobs", request)
        response.record = response.data.get("jobs")
        return response

    def describe_job(self, job_id: str) -> BackupResponse:
        """DescribeJob: ``job`` is the job as it is now (404 for an unknown id)."""
        return self.call("DescribeJob", {"job_id": job_id})

    def update_snapshot_info(self, snapshot: Optional[str] = None, *, plan: Optional[str] = None,
                             destination: Optional[str] = None, table: Optional[str] = None,
                             description: Optional[str] = None,
                             tags: Optional[Iterable[str]] = None,
                             add_tags: Optional[Iterable[str]] = None,
                             remove_tags: Optional[Iterable[str]] = None,
                             protected: Optional[bool] = None) -> BackupResponse:
        """UpdateSnapshotInfo (admin keys only): sets the description, tags (``tags``
        replaces them; ``add_tags``, ``remove_tags`` change them) and ``protected``
        flag of the snapshot ``snapshot`` (an id, a unique prefix, or ``"latest"``,
        the default: the newest, or with ``table`` the newest holding that table) in
        the repository of ``plan`` or ``destination``. A field left ``None`` stays as
        it is. ``record`` is the SnapshotInfo as it is now."""
        request: Dict[str, Any] = {}
        for key, value in (("plan", plan), ("destination", destination), ("snapshot", snapshot),
                           ("table", table), ("description", description)):
            if value is not None:
                request[key] = value
        for key, given in (("tags", tags), ("add_tags", add_tags), ("remove_tags", remove_tags)):
            if given is not None:
                request[key] = _tag_list(given, key)
        if protected is not None:
            if not isinstance(protected, bool):
                raise TypeError("protected is True or False, not %r" % (protected,))
            request["protected"] = protected
        response = self.call("UpdateSnapshotInfo", request)
        if response.ok:
            response.record = response.data.get("snapshot")
        return response

    def update_job_note(self, job_id: str, note: Optional[str] = None,
                        outcome: Optional[str] = None) -> BackupResponse:
        """UpdateJobNote (admin and backup-operator keys): records ``note`` and
        ``outcome`` on a job of the history (``None`` leaves what is there); ``job``
        is the job as it is now."""
        request: Dict[str, Any] = {"job_id": job_id}
        if note is not None:
            request["note"] = str(note)
        if outcome is not None:
            request["outcome"] = str(outcome)
        return self.call("UpdateJobNote", request)

    def wait_for_job(self, job: Union[str, Job], *, action: str = "DescribeJob",
                     timeout: Optional[float] = None, progress: Progress = None) -> BackupResponse:
        """Polls DescribeJob until the job is no longer ``running`` (quickly at first,
        then once a second) and returns it as it ended: ``status_code`` 200 only
        when it succeeded (and a verification found no difference). ``timeout``
        (seconds) gives up with the job still running (a ``JobFailed`` response).
        Progress goes to ``progress`` (default: the client's)."""
        job_id = job if isinstance(job, str) else job["id"]
        out = self._progress_stream(progress)
        deadline = None if timeout is None else time.monotonic() + timeout
        pause = FIRST_POLL_SECONDS
        last_line = None
        while True:
            described = self.describe_job(job_id)
            if not described.ok or described.job is None:
                self._end_progress(out, last_line)
                return described
            current = described.job
            line = _progress_line(current)
            if out is not None and line != last_line:
                out.write(("\r" if last_line is not None and _isatty(out) else "") + line
                          + ("" if _isatty(out) else "\n"))
                out.flush()
            last_line = line
            if current.get("state") != "running":
                self._end_progress(out, last_line)
                return job_outcome(action, current, described.data, described.request_id)
            if deadline is not None and time.monotonic() >= deadline:
                self._end_progress(out, last_line)
                return job_outcome(action, current, described.data, described.request_id)
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_POLL_SECONDS)

    # ------------------------------------------------------------------ the seed's calls

    def backup(self, table_name: str, backup_policy: Policy, wait: bool = False) -> BackupResponse:
        """Backs up ``table_name`` under ``backup_policy`` now.

        The policy is a backup plan of the server (see
        :func:`tablesafe.policy.policy_to_plan`; named ``<table>_<frequency>``
        unless the policy has a ``name``): created when missing, updated when its
        settings differ (both need an admin key; a plan that already matches only
        needs a key that may run backups), and then run (StartBackup). The plan's
        schedule keeps backing the table up, and its retention forgets old
        snapshots. Answers at once with the running ``job``; with ``wait=True`` it
        waits for the job, showing progress, and ``job["snapshot"]`` is the
        snapshot written. A table that does not exist is 404 ``OTSObjectNotExist``.
        """
        plan = policy_to_plan(table_name, backup_policy)
        missing = self._check_table(table_name, "StartBackup")
        if missing is not None:
            return missing
        ensured = self._ensure_plan(plan)
        if not ensured.ok:
            return ensured
        self._plans[table_name] = plan["name"]
        started = self.call("StartBackup", {"plan": plan["name"]})
        return self._maybe_wait(started, wait)

    def verify_backup(self, table_name: str, backup_policy: Policy, wait: bool = True,
                      snapshot: Optional[str] = None) -> BackupResponse:
        """Checks the newest backup of ``table_name`` under ``backup_policy`` (or the
        snapshot ``snapshot``): a VerifyBackup job that reads the snapshot back and
        checks its digests.

        A backup of the policy's plan still running (the one :meth:`backup` just
        started) is waited for first, and its snapshot is the one checked; a
        backup that failed is returned as the failure. It waits for the check
        (``wait=False``: answers with the running job), and 200 means the check
        passed (``job["verified"]`` is true). 404 when the plan holds no backup of
        the table."""
        policy_to_plan(table_name, backup_policy)  # the same checks as backup()
        name = plan_name(table_name, backup_policy)
        if snapshot is None:
            newest = self._newest_backup(table_name, name, "VerifyBackup")
            if isinstance(newest, BackupResponse):
                return newest
            snapshot = newest
        if snapshot is None:
            points = self.call("ListRecoveryPoints", {"plan": name, "table": table_name})
            if not points.ok:
                return _as_action(points, "VerifyBackup")
            snapshots = _table_points(points.data, table_name).get("snapshots") or []
            if not snapshots:
                return _client_error("VerifyBackup", 404, "OTSObjectNotExist",
                                     "plan '%s' holds no snapshot of table '%s'" % (name, table_name))
            snapshot = max(snapshots, key=lambda s: s.get("time_ms", 0))["snapshot"]
        self._plans[table_name] = name
        started = self.call("VerifyBackup", {"plan": name, "snapshot": snapshot})
        return self._maybe_wait(started, wait)

    def update_backup_info(self, table_name: str, backup_policy: Policy,
                           snapshot: Optional[str] = None, description: Optional[str] = None,
                           tags: Optional[Iterable[str]] = None,
                           add_tags: Optional[Iterable[str]] = None,
                           remove_tags: Optional[Iterable[str]] = None,
                           protected: Optional[bool] = None) -> BackupResponse:
        """Attaches backup info to the newest backup of ``table_name`` under
        ``backup_policy`` (or to the snapshot ``snapshot``, an id or unique prefix),
        and returns its full record (UpdateSnapshotInfo, admin keys only).

        ``description`` (text), ``tags`` (replaces the snapshot's tags), ``add_tags``
        and ``remove_tags`` (change them), ``protected`` (``True``: the plan's
        retention and ``tablesafe forget`` never remove the snapshot until it is
        unprotected with ``False``). What is left ``None`` stays as it is, so with
        no info the call only returns the record.

        The newest backup is chosen as in :meth:`verify_backup`: a backup of the
        plan still running is waited for, and its snapshot is the one updated;
        else the newest snapshot in the plan's repository holding the table.
        ``record`` is the snapshot as the server now has it, with the table's
        figures at the top: ``{id, time_ms, table, rows, bytes, cells, verified,
        description, tags, protected, plan, origin, added_bytes, tables}``
        (``verified``: the outcome of the newest check of the snapshot in the job
        history, a VerifyBackup or the backup's own; ``None`` when none checked it)
        and ``tags`` sorted. Tags are 1 to 64 of letters, digits and ``_ - . : / =``
        (400 otherwise).
        404 when the plan holds no snapshot of the table."""
        policy_to_plan(table_name, backup_policy)  # the same checks as backup()
        name = plan_name(table_name, backup_policy)
        if snapshot is None:
            newest = self._newest_backup(table_name, name, "UpdateSnapshotInfo")
            if isinstance(newest, BackupResponse):
                return newest
            snapshot = newest
        self._plans[table_name] = name
        response = self.update_snapshot_info(
            snapshot, plan=name, table=table_name, description=description, tags=tags,
            add_tags=add_tags, remove_tags=remove_tags, protected=protected)
        if response.ok:
            response.record = backup_record(response.data.get("snapshot") or {}, table_name)
        return response

    def recover(self, table_name: str, recovery_point: RecoveryPointLike,
                target_table: Optional[str] = None, overwrite: bool = False, wait: bool = False,
                *, backup_policy: Optional[Policy] = None, destination: Optional[str] = None,
                plan: Optional[str] = None, archive_wait: float = 30.0) -> BackupResponse:
        """Restores ``table_name`` as it was at ``recovery_point`` (an RFC 3339 time,
        epoch ms, an aware datetime, a snapshot id or ``"latest"``).

        Into a new table by default, which the server names
        ``<table>_restored_<yyyymmddThhmmss>`` (``job["target_table"]``), or into
        ``target_table``; ``overwrite=True`` (admin keys only) writes into an
        existing table with rows. The backups are read from the plan of
        ``backup_policy``, or ``plan``, or the repository ``destination``; with
        none of them, from the plan this client last used for the table, else the
        one plan that names the table, else the server's default plan.

        A time needs a backup before it and archived changes up to it (a policy's
        plan archives unless told not to). The archive follows writes about once a
        second, so a time of the last minute that it has not reached yet is waited
        for, up to ``archive_wait`` seconds (polling ListRecoveryPoints). Answers
        at once with the running restore; with ``wait=True`` it waits for it. A
        point outside the restorable window fails the restore job.
        """
        point = parse_recovery_point(recovery_point)
        source = self._source(table_name, backup_policy, destination, plan)
        if isinstance(source, BackupResponse):
            return _as_action(source, "StartRestore")
        if point.time_ms is not None and archive_wait > 0:
            self._await_archive(table_name, source, point.time_ms, archive_wait)
        request: Dict[str, Any] = dict(source)
        request["table"] = table_name
        request.update(point.request_fields())
        if target_table is not None:
            request["target"] = target_table
        if overwrite:
            request["overwrite"] = True
        started = self.call("StartRestore", request)
        if started.ok and started.job is not None:
            self._restores[(table_name, point)] = started.job["id"]
        return self._maybe_wait(started, wait)

    def verify_recovery(self, table_name: str, recovery_point: RecoveryPointLike,
                        wait: bool = True, *, restore_job_id: Optional[str] = None) -> BackupResponse:
        """Checks the table a recovery of ``table_name`` to ``recovery_point`` wrote
        against the digest the restore recorded (VerifyRestore).

        The restore is ``restore_job_id``, else the one this client started for
        that table and point, else the newest restore of the table to that point
        in the job history (404 when there is none). A restore still running is
        waited for first; one that failed is returned as the failure. It waits for
        the check (``wait=False``: answers with the running job), and 200 means
        the table matched (``job["verified"]``)."""
        point = parse_recovery_point(recovery_point)
        job_id = self._ended_restore(table_name, point, restore_job_id, "VerifyRestore")
        if isinstance(job_id, BackupResponse):
            return job_id
        started = self.call("VerifyRestore", {"job_id": job_id})
        return self._maybe_wait(started, wait)

    def update_recovery_info(self, table_name: str, recovery_point: RecoveryPointLike,
                             note: Optional[str] = None, outcome: Optional[str] = None, *,
                             restore_job_id: Optional[str] = None) -> BackupResponse:
        """Records ``note`` and ``outcome`` (free text, e.g. ``"drill passed"``) on the
        recovery of ``table_name`` to ``recovery_point`` in the job history
        (UpdateJobNote, admin and backup-operator keys), and returns the recovery
        record.

        The restore is found as in :meth:`verify_recovery` (``restore_job_id``, else
        the one this client started, else the newest in the job history; 404 when
        there is none); one still running is waited for. What is left ``None``
        stays as it is. ``record`` is ``{table, restored_table, recovery_point,
        to_time_ms, snapshot, rows, bytes, state, note, outcome, restore_job,
        verification, verified}``: ``restore_job`` the restore as it is now,
        ``verification`` its newest verify-restore job (``None`` when none ran) and
        ``verified`` that job's outcome. ``job`` is the restore job."""
        point = parse_recovery_point(recovery_point)
        job_id = self._ended_restore(table_name, point, restore_job_id, "UpdateJobNote")
        if isinstance(job_id, BackupResponse):
            return job_id
        noted = self.update_job_note(job_id, note=note, outcome=outcome)
        if not noted.ok or noted.job is None:
            return noted
        checks = self.list_jobs(kind="verify-restore", limit=1000)
        if not checks.ok:
            return _as_action(checks, "UpdateJobNote")
        verification = next((j for j in checks.data.get("jobs") or []
                             if j.get("restore_job") == job_id), None)
        noted.record = recovery_record(table_name, point, noted.job, verification)
        return noted

    def list_backups(self, table_name: str, backup_policy: Optional[Policy] = None, *,
                     destination: Optional[str] = None, plan: Optional[str] = None,
                     tags: Optional[Iterable[str]] = None) -> BackupResponse:
        """The snapshots holding ``table_name`` (``record``, oldest first), in the
        repository chosen as in :meth:`recover`; with ``tags``, only those carrying
        every one of them (ListSnapshots ``tags``)."""
        source = self._source(table_name, backup_policy, destination, plan)
        if isinstance(source, BackupResponse):
            return _as_action(source, "ListSnapshots")
        request: Dict[str, Any] = dict(source)
        if tags is not None:
            request["tags"] = _tag_list(tags, "tags")
        response = self.call("ListSnapshots", request)
        if response.ok:
            response.record = [s for s in response.data.get("snapshots", [])
                               if any(t.get("name") == table_name for t in s.get("tables", []))]
        return response

    def list_recovery_points(self, table_name: str, destination: Optional[str] = None, *,
                             backup_policy: Optional[Policy] = None,
                             plan: Optional[str] = None) -> BackupResponse:
        """Where ``table_name`` can be restored to, in the repository ``destination``
        (written as in a plan) or chosen as in :meth:`recover`: ``record`` is
        ``{table, snapshots: [{snapshot, time_ms, exact}], spans: [{from_ms, to_ms}],
        gaps, notes}`` (404 when no snapshot there holds the table)."""
        source = self._source(table_name, backup_policy, destination, plan)
        if isinstance(source, BackupResponse):
            return _as_action(source, "ListRecoveryPoints")
        request = dict(source)
        request["table"] = table_name
        response = self.call("ListRecoveryPoints", request)
        if response.ok:
            response.record = _table_points(response.data, table_name)
        return response

    # ------------------------------------------------------------------ helpers

    def _newest_backup(self, table_name: str, name: str,
                       action: str) -> Union[Optional[str], BackupResponse]:
        """The snapshot of plan ``name``'s newest backup job when it holds
        ``table_name`` (a running one is waited for first; one that fails is the
        answer), else ``None``."""
        newest = self.list_jobs(plan=name, kind="backup", limit=1)
        if not newest.ok:
            return _as_action(newest, action)
        jobs = newest.data.get("jobs") or []
        if jobs and jobs[0].get("state") == "running":
            ended = self.wait_for_job(jobs[0], action="StartBackup")
            if not ended.ok:
                return ended
            jobs = [ended.job]
        if jobs and jobs[0].get("snapshot") and table_name in (jobs[0].get("tables") or []):
            return str(jobs[0]["snapshot"])
        return None

    def _check_table(self, table_name: str, action: str) -> Optional[BackupResponse]:
        try:
            self.ots.describe_table(table_name)
        except OTSServiceError as e:
            return BackupResponse(action, e.get_http_status(), error_code=e.get_error_code(),
                                  error_message=e.get_error_message(), request_id=e.get_request_id())
        return None

    def _ensure_plan(self, plan: Dict[str, Any]) -> BackupResponse:
        described = self.call("DescribeBackupPlan", {"name": plan["name"]})
        if described.ok:
            current = {k: v for k, v in described.data.get("plan", {}).items() if v is not None}
            wanted = dict(_PLAN_DEFAULTS, **plan)
            if current == wanted:
                return described
            return _as_action(self.update_backup_plan(plan), "UpdateBackupPlan")
        if described.error_code != "OTSObjectNotExist":
            return described
        created = self.create_backup_plan(plan)
        if created.error_code == "OTSObjectAlreadyExist":  # created meanwhile
            return self.update_backup_plan(plan)
        return created

    def _source(self, table_name: str, policy: Optional[Policy], destination: Optional[str],
                plan: Optional[str]) -> Union[Dict[str, str], BackupResponse]:
        """The ``plan``/``destination`` fields naming the repository of a table's backups."""
        if policy is not None:
            return {"plan": plan_name(table_name, policy)}
        if plan is not None:
            return {"plan": plan}
        if destination is not None:
            return {"destination": destination}
        if table_name in self._plans:
            return {"plan": self._plans[table_name]}
        plans = self.list_backup_plans()
        if not plans.ok:
            return plans
        naming = [p["plan"]["name"] for p in plans.data.get("plans", [])
                  if table_name in p.get("plan", {}).get("tables", [])]
        if len(naming) == 1:
            return {"plan": naming[0]}
        return {}

    def _ended_restore(self, table_name: str, point: RecoveryPoint, restore_job_id: Optional[str],
                       action: str) -> Union[str, BackupResponse]:
        """The id of the restore of ``table_name`` to ``point`` (``restore_job_id``,
        else the one this client started, else the newest in the job history),
        waited for if it still runs; or the failure to answer ``action`` with. A
        restore that failed is a failure to verify, but may still be noted."""
        job_id = restore_job_id or self._restores.get((table_name, point))
        if job_id is None:
            found = self._find_restore(table_name, point)
            if not found.ok:
                return _as_action(found, action)
            job_id = found.job["id"] if found.job else None
        restore = self.describe_job(str(job_id))
        if not restore.ok:
            return _as_action(restore, action)
        if restore.job is not None and restore.job.get("state") == "running":
            ended = self.wait_for_job(restore.job, action="StartRestore")
            if not ended.ok and action == "VerifyRestore":
                return ended
        return str(job_id)

    def _find_restore(self, table_name: str, point: RecoveryPoint) -> BackupResponse:
        listed = self.list_jobs(kind="restore", limit=1000)
        if not listed.ok:
            return listed
        for job in listed.data.get("jobs", []):
            if job.get("state") not in ("succeeded", "running") or job.get("tables") != [table_name]:
                continue
            if point.time_ms is not None and job.get("to_time_ms") != point.time_ms:
                continue
            if point.snapshot is not None and (job.get("to_time_ms") is not None or not str(
                    job.get("snapshot") or "").startswith(point.snapshot)):
                continue
            if point == RecoveryPoint() and job.get("to_time_ms") is not None:
                continue
            return BackupResponse("ListJobs", 200, data=listed.data, job=job)
        return _client_error("VerifyRestore", 404, "OTSObjectNotExist",
                             "no restore of table '%s' to %s in the job history"
                             % (table_name, point))

    def _await_archive(self, table_name: str, source: Mapping[str, str], time_ms: int,
                       limit: float) -> None:
        """Polls ListRecoveryPoints until a span covers ``time_ms``, when that time is
        of the last minute and in the past; gives up after ``limit`` seconds (the
        restore then says what the archive reaches)."""
        now_ms = int(time.time() * 1000)
        if not (now_ms - 60_000 <= time_ms <= now_ms):
            return
        deadline = time.monotonic() + limit
        pause = FIRST_POLL_SECONDS
        while True:
            points = self.call("ListRecoveryPoints", dict(source, table=table_name))
            if points.ok:
                spans = _table_points(points.data, table_name).get("spans") or []
                if any(s.get("from_ms", 0) <= time_ms <= s.get("to_ms", -1) for s in spans):
                    return
            elif points.error_code != "OTSObjectNotExist":
                return  # let the restore report it
            if time.monotonic() >= deadline:
                return
            time.sleep(pause)
            pause = min(pause * 2, LONGEST_POLL_SECONDS / 4)

    def _maybe_wait(self, started: BackupResponse, wait: bool) -> BackupResponse:
        if not wait or not started.ok or started.job is None:
            return started
        if started.job.get("state") != "running":
            return job_outcome(started.action, started.job, started.data, started.request_id)
        return self.wait_for_job(started.job, action=started.action)

    def _progress_stream(self, progress: Progress) -> Optional[TextIO]:
        chosen = self.progress if progress is None else progress
        if chosen is True:
            return sys.stderr
        if not chosen:
            return None
        return chosen

    @staticmethod
    def _end_progress(out: Optional[TextIO], last_line: Optional[str]) -> None:
        if out is not None and last_line is not None and _isatty(out):
            out.write("\n")
            out.flush()


def _isatty(out: TextIO) -> bool:
    try:
        return bool(out.isatty())
    except (AttributeError, ValueError):
        return False


def _progress_line(job: Job) -> str:
    """``backup 5f0c9a2e: running, 1200/5000 rows, 3.4 MB`` (one line, no newline)."""
    rows = job.get("rows") or 0
    total = job.get("rows_total")
    parts = ["%s %s: %s" % (job.get("kind"), str(job.get("id", ""))[:8], job.get("state")),
             "%d%s rows" % (rows, "/%d" % total if total else ""),
             _size(job.get("bytes") or 0)]
    if job.get("snapshot"):
        parts.append("snapshot %s" % str(job["snapshot"])[:8])
    if job.get("target_table"):
        parts.append("into %s" % job["target_table"])
    to_time_ms = job.get("to_time_ms")
    if to_time_ms is not None:
        parts.append("at %s" % format_time_ms(to_time_ms))
    if job.get("verified") is not None:
        parts.append("verified" if job["verified"] else "CHECK FAILED")
    if job.get("error"):
        parts.append(str(job["error"]))
    return ", ".join(parts)


def _size(n: int) -> str:
    if n < 1024:
        return "%d B" % n
    value = float(n)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return "%.1f %s" % (value, unit)


def backup_record(snapshot: Mapping[str, Any], table_name: str) -> Dict[str, Any]:
    """The record of one backup of ``table_name``: the SnapshotInfo ``snapshot``
    (``id``, ``time_ms``, ``verified``, ``description``, ``tags``, ``protected``,
    ``tables``, ...) with the table's own figures added: ``table``, ``rows``,
    ``bytes`` (its data bytes), ``cells`` (``None`` when the snapshot does not hold
    it)."""
    out: Dict[str, Any] = dict(snapshot)
    entry = next((t for t in snapshot.get("tables") or [] if t.get("name") == table_name), None)
    out["table"] = table_name
    out["rows"] = entry.get("rows") if entry else None
    out["bytes"] = entry.get("data_bytes") if entry else None
    out["cells"] = entry.get("cells") if entry else None
    out.setdefault("verified", None)
    out.setdefault("description", None)
    out.setdefault("tags", [])
    out.setdefault("protected", False)
    return out


def recovery_record(table_name: str, point: RecoveryPoint, restore: Mapping[str, Any],
                    verification: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    """The record of one recovery: the restore job and its newest verification."""
    return {
        "table": table_name,
        "restored_table": restore.get("target_table"),
        "recovery_point": str(point),
        "to_time_ms": restore.get("to_time_ms"),
        "snapshot": restore.get("snapshot"),
        "rows": restore.get("rows"),
        "bytes": restore.get("bytes"),
        "state": restore.get("state"),
        "note": restore.get("note"),
        "outcome": restore.get("outcome"),
        "restore_job": dict(restore),
        "verification": dict(verification) if verification is not None else None,
        "verified": verification.get("verified") if verification is not None else None,
    }


def _tag_list(tags: Iterable[str], field: str) -> List[str]:
    """``tags`` as a list of strings (one string is one tag)."""
    if isinstance(tags, str):
        return [tags]
    out = list(tags)
    for tag in out:
        if not isinstance(tag, str):
            raise TypeError("%s holds strings, not %r" % (field, tag))
    return out


def _table_points(data: Mapping[str, Any], table_name: str) -> Dict[str, Any]:
    for entry in data.get("tables", []):
        if entry.get("table") == table_name:
            return dict(entry)
    return {"table": table_name, "snapshots": [], "spans": [], "gaps": [], "notes": []}


def _as_action(response: BackupResponse, action: str) -> BackupResponse:
    """``response`` reported under the call's own action name."""
    response.action = action
    return response


def _client_error(action: str, status: int, code: str, message: str) -> BackupResponse:
    return BackupResponse(action, status, error_code=code, error_message=message)

