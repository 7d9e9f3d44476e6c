"""The backup API's JSON values (docs/API.md, "Backup API"), as ``TypedDict``s.

They are plain dicts at run time; the types only document the fields.
"""

from __future__ import annotations

from typing import Any, List, Optional, TypedDict

__all__ = ["Job", "Plan", "SnapshotInfo", "SnapshotTable", "TableRecoveryPoints"]


class Job(TypedDict, total=False):
    """A backup, restore or verification job."""

    id: str
    kind: str  # backup, verify-backup, restore, verify-restore
    state: str  # running, succeeded, failed, interrupted
    trigger: str
    plan: Optional[str]
    attempt: int
    started_ms: int
    finished_ms: Optional[int]
    destination: str
    tables: List[str]
    rows: int
    rows_total: Optional[int]
    bytes: int
    snapshot: Optional[str]
    target_table: Optional[str]
    to_time_ms: Optional[int]
    digest: Optional[str]
    restore_job: Optional[str]
    verified: Optional[bool]
    forgotten: List[str]
    error: Optional[str]
    differences: List[str]  # a verify-restore's differing rows and key ranges
    note: Optional[str]  # UpdateJobNote
    outcome: Optional[str]  # UpdateJobNote


class Plan(TypedDict, total=False):
    """A backup plan."""

    name: str
    tables: List[str]
    every: str
    cron: str
    timezone: str
    destination: str
    keep_last: int
    keep_within: str
    keep_hourly: int
    keep_daily: int
    keep_weekly: int
    keep_monthly: int
    verify_data_percent: int
    archive: bool
    enabled: bool


class SnapshotTable(TypedDict, total=False):
    """One table of a snapshot."""

    name: str
    rows: int
    cells: int
    data_bytes: int
    consistency: str
    stream_position: Optional[int]
    digest: str


class SnapshotInfo(TypedDict, total=False):
    """A snapshot (one backup) in a repository."""

    id: str
    time_ms: int
    plan: Optional[str]
    origin: str
    added_bytes: int
    tables: List[SnapshotTable]
    description: Optional[str]  # UpdateSnapshotInfo
    tags: List[str]  # sorted
    protected: bool  # never forgotten by retention while true
    verified: Optional[bool]  # the newest check's outcome (VerifyBackup or the backup's own)


class TableRecoveryPoints(TypedDict, total=False):
    """Where one table can be restored to: snapshots, spans of any millisecond, gaps."""

    table: str
    snapshots: List[Any]
    spans: List[Any]
    gaps: List[Any]
    notes: List[str]
