"""TableSafe's Python client: the official Tablestore SDK's table and row
operations plus backups and recovery, on one client.

    from tablesafe import TableStoreClient

    client = TableStoreClient("http://127.0.0.1:8800", key_id, secret, "tablesafe")
    policy = {"backup_frequency": "hourly", "backup_retention_period": "72 hours",
              "backup_destination": "backup_bucket"}
    response = client.backup("users", policy, wait=True)
    assert response.status_code == 200
"""

from .client import BACKUP_ACTIONS, TableStoreClient, decode_error
from .policy import RecoveryPoint, parse_recovery_point, policy_to_plan
from .response import (CHECK_FAILED, JOB_FAILED, JOB_INTERRUPTED, BackupError,
                       BackupResponse)
from .signing import ResponseVerificationError

__version__ = "0.1.0"

__all__ = [
    "BACKUP_ACTIONS",
    "BackupError",
    "BackupResponse",
    "CHECK_FAILED",
    "JOB_FAILED",
    "JOB_INTERRUPTED",
    "RecoveryPoint",
    "ResponseVerificationError",
    "TableStoreClient",
    "decode_error",
    "parse_recovery_point",
    "policy_to_plan",
    "__version__",
]
