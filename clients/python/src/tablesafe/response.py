"""What every backup call of :class:`tablesafe.TableStoreClient` returns."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Union

# The official SDK's error class, so that one ``except`` catches both.
from tablestore.error import OTSServiceError as _ServiceErrorBase

from .types import Job

__all__ = ["BackupResponse", "BackupError", "JOB_FAILED", "JOB_INTERRUPTED", "CHECK_FAILED"]

#: ``error_code`` of a waited-for job that ended ``failed``.
JOB_FAILED = "JobFailed"
#: ``error_code`` of a waited-for job that ended ``interrupted`` (the server stopped).
JOB_INTERRUPTED = "JobInterrupted"
#: ``error_code`` of a waited-for verification that found a difference (``verified: false``).
CHECK_FAILED = "VerificationFailed"

#: ``status_code`` of a call whose job failed although the action was accepted.
JOB_FAILURE_STATUS = 500


class BackupError(_ServiceErrorBase):
    """A backup call that failed, raised by :meth:`BackupResponse.raise_for_status`.

    A subclass of the SDK's ``tablestore.error.OTSServiceError``: ``status_code``
    (also ``get_http_status()``), ``error_code`` (``get_error_code()``),
    ``error_message`` (``get_error_message()``), ``request_id``, and the
    ``response`` itself.
    """

    def __init__(self, response: "BackupResponse") -> None:
        self.response = response
        self.http_status = response.status_code
        self.code = response.error_code or ""
        self.message = response.error_message or ""
        self.request_id = response.request_id or ""

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def error_code(self) -> str:
        return self.code

    @property
    def error_message(self) -> str:
        return self.message

    @property
    def job(self) -> Optional[Job]:
        return self.response.job

    def __str__(self) -> str:
        return "%s %s: %s %s%s" % (
            self.response.action, self.status_code, self.code, self.message,
            " (request %s)" % self.request_id if self.request_id else "")


Record = Union[Job, Dict[str, Any], List[Dict[str, Any]], None]


class BackupResponse:
    """The answer of one backup call, shaped like a ``requests.Response``.

    - ``status_code``: 200 when the call did what it says; otherwise the HTTP
      status of the Tablestore error, or, for a call that waited for its job
      (``wait=True``) and the job did not succeed, 500.
    - ``ok`` (also ``bool(response)``) and :meth:`raise_for_status`.
    - ``job``: the job the call started or describes, as the API's Job (a dict:
      ``id``, ``kind``, ``state``, ``snapshot``, ``rows``, ``bytes``,
      ``target_table``, ``verified``, ``error``, ...), when there is one.
    - ``record``: what the call concerns: the job, or the snapshots
      (``list_backups``), or the table's recovery points (``list_recovery_points``).
    - ``data``: the decoded JSON answer of the last request.
    - ``error_code`` and ``error_message``: the Tablestore error (``OTSAuthFailed``,
      ``OTSObjectNotExist``, ...), or for a job that did not succeed
      :data:`JOB_FAILED`, :data:`JOB_INTERRUPTED` or :data:`CHECK_FAILED` with the
      job's error; ``None`` on success. ``request_id`` is the server's
      ``x-ots-requestid``.
    - ``http_status``: the HTTP status of the last request (200 for an accepted
      action whose job later failed).
    """

    def __init__(self, action: str, status_code: int, *, data: Optional[Dict[str, Any]] = None,
                 job: Optional[Job] = None, record: Record = None,
                 error_code: Optional[str] = None, error_message: Optional[str] = None,
                 request_id: Optional[str] = None, http_status: Optional[int] = None) -> None:
        self.action = action
        self.status_code = status_code
        self.data: Dict[str, Any] = data if data is not None else {}
        self.job = job
        self.record: Record = record if record is not None else job
        self.error_code = error_code
        self.error_message = error_message
        self.request_id = request_id
        self.http_status = http_status if http_status is not None else status_code

    @property
    def ok(self) -> bool:
        """True when ``status_code`` is 200."""
        return self.status_code == 200

    def __bool__(self) -> bool:
        return self.ok

    def raise_for_status(self) -> "BackupResponse":
        """Raises :class:`BackupError` unless the call succeeded; returns ``self``."""
        if not self.ok:
            raise BackupError(self)
        return self

    def json(self) -> Dict[str, Any]:
        """The decoded JSON answer (``data``), as ``requests.Response.json()``."""
        return self.data

    def __repr__(self) -> str:
        if self.ok:
            what = ""
            if self.job is not None:
                what = " job=%s %s %s" % (self.job.get("id"), self.job.get("kind"),
                                         self.job.get("state"))
            return "<BackupResponse %s [%d]%s>" % (self.action, self.status_code, what)
        return "<BackupResponse %s [%d] %s: %s>" % (self.action, self.status_code,
                                                   self.error_code, self.error_message)


def job_outcome(action: str, job: Job, data: Dict[str, Any], request_id: Optional[str],
                record: Record = None) -> BackupResponse:
    """The response of a call that waited for ``job`` to end."""
    state = job.get("state")
    if state == "succeeded" and job.get("verified") is not False:
        return BackupResponse(action, 200, data=data, job=job, record=record, request_id=request_id)
    if state == "succeeded":
        code, message = CHECK_FAILED, job.get("error") or "the check found a difference"
    elif state == "interrupted":
        code, message = JOB_INTERRUPTED, job.get("error") or "the server stopped during the job"
    elif state == "running":
        code, message = JOB_FAILED, "the job is still running"
    else:
        code, message = JOB_FAILED, job.get("error") or "the job failed without an error"
    return BackupResponse(action, JOB_FAILURE_STATUS, data=data, job=job, record=record,
                          error_code=code, error_message="job %s %s: %s" % (job.get("id"), state, message),
                          request_id=request_id, http_status=200)
