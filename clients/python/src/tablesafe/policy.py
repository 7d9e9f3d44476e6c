"""Backup policies in words, and recovery points, as the backup API takes them.

A policy is the seed's dict::

    {"backup_frequency": "hourly",          # daily, weekly, "every 15m", "90 seconds", a cron
     "backup_retention_period": "72 hours", # "7 days", "2 weeks", "72h"
     "backup_destination": "backup_bucket"} # a path in the server's data dir, or a URL

which :func:`policy_to_plan` turns into a backup plan of the API (``every`` or
``cron``, ``keep_within``, ``destination``), for one table. A recovery point is an
RFC 3339 time, epoch milliseconds, an aware :class:`datetime`, a snapshot id (or
a unique prefix of one), or ``"latest"``; :func:`parse_recovery_point` reads it.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta, timezone
from typing import Any, Dict, List, Mapping, NamedTuple, Optional, Tuple, Union

__all__ = [
    "POLICY_KEYS",
    "RecoveryPoint",
    "RecoveryPointLike",
    "duration",
    "schedule",
    "plan_name",
    "policy_to_plan",
    "parse_recovery_point",
    "format_time_ms",
]

#: Keys a policy dict may hold besides the seed's three: plan fields passed as they are.
EXTRA_PLAN_KEYS = ("name", "tables", "timezone", "keep_last", "keep_hourly", "keep_daily",
                   "keep_weekly", "keep_monthly", "verify_data_percent", "archive", "enabled")
POLICY_KEYS = ("backup_frequency", "backup_retention_period", "backup_destination") + EXTRA_PLAN_KEYS

_UNITS = {
    "s": ("s", 1), "sec": ("s", 1), "secs": ("s", 1), "second": ("s", 1), "seconds": ("s", 1),
    "m": ("m", 1), "min": ("m", 1), "mins": ("m", 1), "minute": ("m", 1), "minutes": ("m", 1),
    "h": ("h", 1), "hr": ("h", 1), "hrs": ("h", 1), "hour": ("h", 1), "hours": ("h", 1),
    "d": ("d", 1), "day": ("d", 1), "days": ("d", 1),
    "w": ("d", 7), "week": ("d", 7), "weeks": ("d", 7),
}


def duration(words: str) -> Optional[str]:
    """A duration in words (``72 hours``, ``72h``, ``an hour``, ``2 weeks``) in the
    plan form (``72h``, ``1h``, ``14d``); ``None`` when it is not one."""
    lower = words.strip().lower()
    m = re.match(r"^(\d*)\s*(.*)$", lower)
    assert m is not None
    number, unit = m.group(1), m.group(2).strip()
    if number:
        count = int(number)
    elif re.match(r"^(a|an|one)\s", unit):
        count = 1
    else:
        return None
    unit = unit.rsplit(" ", 1)[-1]
    if unit not in _UNITS:
        return None
    suffix, factor = _UNITS[unit]
    return "%d%s" % (count * factor, suffix)


def schedule(frequency: str) -> Tuple[Optional[str], Optional[str]]:
    """``(every, cron)`` of a frequency in words: ``hourly`` is every ``1h``,
    ``daily`` ``1d``, ``weekly`` ``7d``; ``every 15m`` or ``90 seconds`` an
    interval; 5 or 6 fields a cron expression. Anything else is sent as an
    interval, as written, and the server says what is wrong with it."""
    words = frequency.strip()
    lower = words.lower()
    fixed = {"hourly": "1h", "daily": "1d", "weekly": "7d"}
    if lower in fixed:
        return fixed[lower], None
    if lower.startswith("every "):
        rest = lower[len("every "):]
        every = duration(rest) or duration("1 " + rest)
    else:
        every = duration(lower)
    if every is not None:
        return every, None
    if len(words.split()) in (5, 6):
        return None, words
    return words, None


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").lower()


def plan_name(table_name: str, policy: Mapping[str, Any]) -> str:
    """The plan a policy of one table runs as: ``policy["name"]`` when given, else
    ``<table>_<frequency>`` (``users_hourly``, ``users_every_15m``; a cron
    expression is named by a hash of it, ``users_cron_1a2b3c4d``)."""
    if policy.get("name"):
        return str(policy["name"])
    frequency = str(policy.get("backup_frequency", "")).strip()
    every, cron = schedule(frequency) if frequency else (None, None)
    if cron is not None:
        tail = "cron_" + hashlib.sha1(cron.encode("utf-8")).hexdigest()[:8]
    else:
        tail = _slug(frequency) or "adhoc"
    return "%s_%s" % (table_name, tail)


def policy_to_plan(table_name: str, policy: Mapping[str, Any]) -> Dict[str, Any]:
    """The backup plan (a dict as the API's ``Plan``) of ``policy`` for ``table_name``.

    ``backup_frequency`` and ``backup_destination`` are required;
    ``backup_retention_period`` becomes ``keep_within``. The plan backs up only
    ``table_name`` (unless the policy names ``tables``) and archives its changes
    (``archive``, true unless the policy says otherwise), so that any time after
    its first backup is a recovery point. Other plan fields (``keep_daily``,
    ``timezone``, ``verify_data_percent``, ...) may be given in the policy.
    Raises ``ValueError`` for a key it does not know or a missing one.
    """
    if not isinstance(policy, Mapping):
        raise TypeError("a backup policy is a dict, not %s" % type(policy).__name__)
    unknown = sorted(set(policy) - set(POLICY_KEYS))
    if unknown:
        raise ValueError("unknown backup policy key(s) %s; expected some of %s"
                         % (", ".join(map(repr, unknown)), ", ".join(POLICY_KEYS)))
    for key in ("backup_frequency", "backup_destination"):
        if not policy.get(key):
            raise ValueError("a backup policy needs %r" % key)
    every, cron = schedule(str(policy["backup_frequency"]))
    plan: Dict[str, Any] = {
        "name": plan_name(table_name, policy),
        "tables": list(policy.get("tables") or [table_name]),
        "destination": str(policy["backup_destination"]),
        "archive": bool(policy.get("archive", True)),
    }
    if every is not None:
        plan["every"] = every
    if cron is not None:
        plan["cron"] = cron
    retention = policy.get("backup_retention_period")
    if retention:
        plan["keep_within"] = duration(str(retention)) or str(retention).strip()
    for key in EXTRA_PLAN_KEYS:
        if key not in ("name", "tables", "archive") and policy.get(key) is not None:
            plan[key] = policy[key]
    return plan


class RecoveryPoint(NamedTuple):
    """What a restore goes back to: a snapshot (id or unique prefix), a time (ms
    since the epoch, UTC), or neither (the newest snapshot)."""

    snapshot: Optional[str] = None
    time_ms: Optional[int] = None

    def request_fields(self) -> Dict[str, Any]:
        """The StartRestore fields of this point."""
        out: Dict[str, Any] = {}
        if self.snapshot is not None:
            out["snapshot"] = self.snapshot
        if self.time_ms is not None:
            out["time_ms"] = self.time_ms
        return out

    def __str__(self) -> str:
        if self.snapshot is not None:
            return "snapshot %s" % self.snapshot
        if self.time_ms is not None:
            return format_time_ms(self.time_ms)
        return "the newest snapshot"


RecoveryPointLike = Union[str, int, datetime, RecoveryPoint, None]

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
_SNAPSHOT = re.compile(r"^[0-9a-fA-F]{4,64}$")


def _epoch_ms(dt: datetime) -> int:
    delta = dt.astimezone(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def parse_recovery_point(point: RecoveryPointLike) -> RecoveryPoint:
    """Reads a recovery point.

    - an RFC 3339 time with an offset (``2022-01-01T00:00:00Z``,
      ``2026-11-24T21:15:03.250+01:00``): the table as it was then;
    - an aware ``datetime``, or an ``int`` of milliseconds since the epoch: the same;
    - 4 to 64 hex digits: a snapshot id or a unique prefix of one;
    - ``None`` or ``"latest"``: the newest snapshot.

    Raises ``ValueError`` for anything else (a naive datetime, a time without offset).
    """
    if isinstance(point, RecoveryPoint):
        return point
    if point is None:
        return RecoveryPoint()
    if isinstance(point, bool):
        raise ValueError("a recovery point is a time or a snapshot id, not %r" % point)
    if isinstance(point, int):
        return RecoveryPoint(time_ms=point)
    if isinstance(point, datetime):
        if point.tzinfo is None or point.tzinfo.utcoffset(point) is None:
            raise ValueError("a recovery point datetime needs a time zone (e.g. timezone.utc)")
        return RecoveryPoint(time_ms=_epoch_ms(point))
    if not isinstance(point, str):
        raise ValueError("a recovery point is a time or a snapshot id, not %r" % (point,))
    text = point.strip()
    if text.lower() == "latest":
        return RecoveryPoint()
    m = _RFC3339.match(text)
    if m:
        year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
        fraction = (m.group(7) or "0")[:6].ljust(6, "0")
        offset = m.group(8)
        if offset in ("Z", "z"):
            tz = timezone.utc
        else:
            sign = -1 if offset[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        dt = datetime(year, month, day, hour, minute, second, int(fraction), tzinfo=tz)
        return RecoveryPoint(time_ms=_epoch_ms(dt))
    if _SNAPSHOT.match(text):
        return RecoveryPoint(snapshot=text.lower())
    raise ValueError("%r is neither an RFC 3339 time with an offset (2022-01-01T00:00:00Z) "
                     "nor a snapshot id" % point)


def format_time_ms(time_ms: int) -> str:
    """An RFC 3339 UTC time with milliseconds, ``2026-11-24T21:15:03.250Z``."""
    dt = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=time_ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)

